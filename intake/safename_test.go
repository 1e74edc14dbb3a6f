package intake

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSafeName(t *testing.T) {
	long := strings.Repeat("é", 100) + ".pdf" // 204 bytes
	tests := []struct{ in, want string }{
		{"lettre.pdf", "lettre.pdf"},
		{"1234/../../1234.txt", "1234.txt"},
		{"../../example/MyFile.txt", "MyFile.txt"},
		{"php://foo", "foo"},
		{`C:\Documents and Settings\x\passeport.jpg`, "passeport.jpg"},
		{"/home1/eucyon/data/img_event/postcard/uk7200_110_6.jpg", "uk7200_110_6.jpg"},
		{"name\nwith\r\nnewlines.pdf", "name with newlines.pdf"},
		{"tab\there.pdf", "tab here.pdf"},
		{"photo\u202Efdp.exe", "photofdp.exe"},               // RLO: the true extension shows
		{"a\u2066b\u2069c\u200E\u200F\u061C.pdf", "abc.pdf"}, // isolates, marks
		{"zero\u200Bwidth.pdf", "zerowidth.pdf"},
		{".htaccess", "htaccess"},
		{"...hidden.pdf", "hidden.pdf"},
		{"trailing.pdf. . ", "trailing.pdf"},
		{"a<b>c:d\"e|f?g*h.pdf", "a_b_c_d_e_f_g_h.pdf"},
		{"CON.txt", "_CON.txt"},
		{"lpt1", "_lpt1"},
		{"conference.pdf", "conference.pdf"},
		{"e\u0301te\u0301.pdf", "été.pdf"}, // NFD to NFC
		{"  spaced   out  .pdf", "spaced out .pdf"},
		{"/", ""},
		{"\u202E", ""},
		{"..", ""},
		{long, strings.Repeat("é", 58) + ".pdf"},
		{strings.Repeat("a", 130), strings.Repeat("a", 120)},
		{"bad\xffutf8.pdf", "bad_utf8.pdf"},
	}
	for _, tc := range tests {
		got := SafeName(tc.in)
		if got != tc.want {
			t.Errorf("SafeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
		checkSafe(t, tc.in, got)
	}
}

// checkSafe asserts the properties every safe name has.
func checkSafe(t *testing.T, in, got string) {
	t.Helper()
	if len(got) > SafeNameMax || !utf8.ValidString(got) || strings.ContainsAny(got, "/\\\x00") ||
		strings.HasPrefix(got, ".") || strings.HasPrefix(got, " ") || strings.HasSuffix(got, " ") {
		t.Errorf("SafeName(%q) = %q: not safe", in, got)
	}
	for _, r := range got {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			t.Errorf("SafeName(%q) = %q keeps %U", in, got, r)
		}
	}
}

func TestNameSetUnique(t *testing.T) {
	s := nameSet{}
	var got []string
	for _, n := range []string{"a.pdf", "A.PDF", "a.pdf", "a (2).pdf", "noext", "noext", strings.Repeat("x", 116) + ".pdf", strings.Repeat("x", 116) + ".pdf"} {
		got = append(got, s.unique(n))
	}
	want := []string{"a.pdf", "A (2).PDF", "a (3).pdf", "a (2) (2).pdf", "noext", "noext (2)", strings.Repeat("x", 116) + ".pdf", strings.Repeat("x", 112) + " (2).pdf"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("unique #%d = %q, want %q", i, got[i], want[i])
		}
		if len(got[i]) > SafeNameMax {
			t.Errorf("unique #%d = %q is longer than %d bytes", i, got[i], SafeNameMax)
		}
	}
}

func FuzzSafeName(f *testing.F) {
	for _, s := range []string{"a.pdf", "../x", "photo\u202Efdp.exe", strings.Repeat("é", 80) + ".jpeg"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := SafeName(in)
		checkSafe(t, in, got)
		if SafeName(got) != got {
			t.Errorf("SafeName(%q) = %q is not stable: %q", in, got, SafeName(got))
		}
	})
}
