package intake

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// The expected values were produced by the oracle's own decoders
// (email._encoded_words.decode_b, quopri.decodestring, email.message._decode_uu
// of CPython 3.11).

func TestBase64Reader(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SGVsbG8gd29ybGQ=", "Hello world"},
		{"SGVsbG8gd29ybGQ", "Hello world"},      // missing padding
		{"SGVs bG8*gd29y\tbGQ=", "Hello world"}, // junk skipped
		{"SGVsbG8=IHdvcmxk", "Hello"},           // stops at padding
		{"SGVsbA==SGVsbA==", "Hell"},            // concatenated: first only
		{"QQ", "A"},
		{"QUI", "AB"},
		{"=QUJD", "ABC"}, // stray '=' before data ignored
		{"Q=UJD", "ABC"},
		{"SGVs\r\nbG8=\r\n", "Hello"},
	}
	for _, tc := range tests {
		for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
			got, err := io.ReadAll(newBase64Reader(r))
			if err != nil || string(got) != tc.want {
				t.Errorf("base64(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		}
	}
}

func TestQPReader(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a=3Db", "a=b"},
		{"soft=\nbreak", "softbreak"},
		{"soft=\r\nbreak", "softbreak"},
		{"bad=ZZescape", "bad=ZZescape"},
		{"eq==sign", "eq=sign"},
		{"end=", "end"},
		{"trail  \nx", "trail  \nx"},
		{"=4", "=4"},
		{"x=\rjunk\nnext", "xnext"},
		{"lower=e9", "lower\xe9"},
		{"=\n", ""},
	}
	for _, tc := range tests {
		for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
			got, err := io.ReadAll(newQPReader(r))
			if err != nil || string(got) != tc.want {
				t.Errorf("qp(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		}
	}
}

func TestUUDecode(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want string
	}{
		{"begin 644 f.txt\n#86)C\n`\nend\n", true, "abc"},
		{"junk\nbegin 600 f.txt\r\n#86)C\r\nend\r\n", true, "abc"},
		{"no begin line\n#86)C\n", false, ""},
		{"begin 644 f.txt\n#86)C\n\nend\n", false, ""}, // empty line: truncated
		{"begin xyz f.txt\n#86)C\nend\n", false, ""},   // mode not octal
	}
	for _, tc := range tests {
		var out bytes.Buffer
		ok, err := uudecode(strings.NewReader(tc.in), &out)
		if err != nil || ok != tc.ok || ok && out.String() != tc.want {
			t.Errorf("uudecode(%q) = %v %q %v, want %v %q", tc.in, ok, out.String(), err, tc.ok, tc.want)
		}
	}
}

func TestWalkUUEncodedFallsBack(t *testing.T) {
	raw := "Content-Type: application/octet-stream; name=a.bin\nContent-Transfer-Encoding: x-uuencode\n\nnot uuencoded\n"
	msg, bodies, err := walkAll(t, raw, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if bodies["1"] != "not uuencoded\n" || len(msg.Parts[0].Notes) != 1 {
		t.Errorf("body %q notes %q: want the raw body kept, with a note", bodies["1"], msg.Parts[0].Notes)
	}
}
