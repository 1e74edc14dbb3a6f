package intake

import (
	"strings"
	"testing"
)

// TestFilename covers the ways senders write file names: RFC 2231
// continuations in legacy charsets, RFC 2047 words inside quotes (Outlook),
// unquoted names with blanks, raw 8-bit bytes, unknown charsets.
func TestFilename(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   string
	}{
		{"quoted", `Content-Disposition: attachment; filename="lettre.pdf"`, "lettre.pdf"},
		{"unquoted with blanks", `Content-Disposition: attachment; filename=titre de sejour.pdf; size=3`, "titre de sejour.pdf"},
		{"RFC 2231 Latin-1", `Content-Disposition: attachment; filename*=ISO-8859-1''d%E9p%F4t.pdf`, "dépôt.pdf"},
		{"RFC 2231 Windows-1252 euro", `Content-Disposition: attachment; filename*=windows-1252''%80uro.pdf`, "€uro.pdf"},
		{"RFC 2231 ISO-8859-15 euro", `Content-Disposition: attachment; filename*=iso-8859-15''%A4uro.pdf`, "€uro.pdf"},
		{"RFC 2231 language", `Content-Disposition: attachment; filename*=utf-8'fr'r%C3%A9c%C3%A9piss%C3%A9.pdf`, "récépissé.pdf"},
		{"RFC 2231 continuations", "Content-Disposition: attachment;\n filename*0*=utf-8''Re%C3%A7u%20; filename*1*=de%20la; filename*2=\" pr\u00e9fecture.pdf\"", "Reçu de la préfecture.pdf"},
		{"RFC 2231 sections out of order", `Content-Disposition: attachment; filename*1="def.pdf"; filename*0="abc"`, "abcdef.pdf"},
		{"RFC 2231 gap stops", `Content-Disposition: attachment; filename*0="abc"; filename*2="def"`, "abc"},
		{"RFC 2231 character split across sections", `Content-Disposition: attachment; filename*0*=utf-8''%C3; filename*1*=%A9.txt`, "é.txt"},
		{"RFC 2231 unknown charset keeps UTF-8", `Content-Disposition: attachment; filename*=x-unknown''%C3%A9.txt`, "é.txt"},
		{"RFC 2231 unknown charset, Latin bytes", `Content-Disposition: attachment; filename*=x-unknown''%E9.txt`, "é.txt"},
		{"RFC 2047 in quotes (Outlook)", `Content-Type: application/pdf; name="=?iso-8859-1?Q?r=E9c=E9piss=E9.pdf?="`, "récépissé.pdf"},
		{"RFC 2047 words split in a quote", "Content-Disposition: attachment; filename=\n\t\"=?iso-8859-1?Q?N=B0_1467829.?=\n =?iso-8859-1?Q?pdf?=\"", "N° 1467829.pdf"},
		{"RFC 2047 character split across words", `Content-Type: text/plain; name="=?utf-8?B?w6k=?= =?utf-8?B?qQ==?="`, "é\ufffd"},
		{"RFC 2047 multibyte split across words", `Content-Type: text/plain; name="=?utf-8?B?5L2g5Q==?= =?utf-8?B?pb0udHh0?="`, "你好.txt"},
		{"RFC 2047 mixed with text", `Content-Type: image/gif; name="nyan cat =?UTF-8?Q?=E2=9C=94=2Egif?="`, "nyan cat ✔.gif"},
		{"RFC 2047 unquoted", `Content-Disposition: attachment; filename==?utf-8?B?Zm9vLnBkZg==?=`, "foo.pdf"},
		{"RFC 2047 unknown charset kept readable", `Content-Type: text/plain; name="=?x-unknown?Q?abc?="`, "abc"},
		{"raw UTF-8", "Content-Disposition: attachment; filename=\"\u7ba1\u7406.doc\"", "管理.doc"},
		{"raw Latin-1 read as Windows-1252", "Content-Disposition: attachment; filename=\"d\xe9p\xf4t.pdf\"", "dépôt.pdf"},
		{"filename wins over name", "Content-Type: image/png; name=\"a.png\"\nContent-Disposition: inline; filename=\"b.png\"", "b.png"},
		{"empty filename falls back to name", "Content-Type: image/png; name=\"a.png\"\nContent-Disposition: inline; filename=\"\"", "a.png"},
		{"first duplicate wins", `Content-Disposition: attachment; filename="a.pdf"; filename*=utf-8''b.pdf`, "a.pdf"},
		{"semicolon inside quotes", `Content-Disposition: attachment; filename="Checkliste 76-80;2;2.pdf"; size=3`, "Checkliste 76-80;2;2.pdf"},
		{"quoted pair", `Content-Disposition: attachment; filename="say \"hi\".txt"`, `say "hi".txt`},
		{"Windows path backslashes kept", `Content-Disposition: attachment; filename="C:\docs\a.pdf"`, `C:\docs\a.pdf`},
		{"missing semicolon", `Content-Type: application/pdf name="Invoice.pdf"`, "Invoice.pdf"},
		{"blanks stripped", `Content-Disposition: attachment; filename="  a.pdf  "`, "a.pdf"},
		{"upper-case parameter name", `Content-Type: application/x-gzip; NAME=blah.gz`, "blah.gz"},
	}
	for _, tc := range tests {
		lr := newLineReader(strings.NewReader(tc.header + "\n\n"))
		h, err := readHeader(lr, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if got := filename(h, contentType(h, "text/plain")); got != tc.want {
			t.Errorf("filename(%s: %q) = %q, want %q", tc.name, tc.header, got, tc.want)
		}
	}
}

func TestDecodeWords(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"=?utf-8?Q?a_b?= c", "a b c"},
		{"=?utf-8?Q?a?= =?utf-8?Q?b?=", "ab"},
		{"=?utf-8?Q?a?=  x  =?utf-8?Q?b?=", "a  x  b"},
		{"=?iso-8859-1?Q?Fr=F6sche?=", "Frösche"},
		{"=?ISO-8859-1*fr?Q?=E9t=E9?=", "été"},                             // RFC 2231 §5 language
		{"=?iso-8859-1?Q?Fr\u00f6sche?=", "=?iso-8859-1?Q?Fr\u00f6sche?="}, // raw 8-bit: not a word
		{"=?utf-8?X?abc?=", "=?utf-8?X?abc?="},
		{"=?utf-8?Q?unterminated", "=?utf-8?Q?unterminated"},
		{"=?koi8-r?B?8NLJ18XU?=", "Привет"},
	}
	for _, tc := range tests {
		if got := decodeWords(tc.in); got != tc.want {
			t.Errorf("decodeWords(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseParamValueBoundary(t *testing.T) {
	tests := []struct{ in, token, boundary string }{
		{`multipart/mixed; boundary="simple boundary"`, "multipart/mixed", "simple boundary"},
		{`Multipart/Mixed; BOUNDARY=----=_NextPart_000_0093`, "multipart/mixed", "----=_NextPart_000_0093"},
		{`multipart/mixed; boundary="a;b"; charset=x`, "multipart/mixed", "a;b"},
		{`multipart/alternative;boundary=abc (comment)`, "multipart/alternative", "abc (comment)"},
	}
	for _, tc := range tests {
		v := parseParamValue(tc.in)
		b, _ := v.get("boundary")
		if v.token != tc.token || b.value != tc.boundary {
			t.Errorf("parseParamValue(%q) = %q boundary %q, want %q %q", tc.in, v.token, b.value, tc.token, tc.boundary)
		}
	}
}
