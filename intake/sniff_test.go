package intake

import (
	"bytes"
	"testing"
)

func TestSniff(t *testing.T) {
	zipEntry := func(name string, rest string) []byte {
		h := []byte("PK\x03\x04")
		h = append(h, make([]byte, 22)...)
		h = append(h, byte(len(name)), 0, 0, 0)
		return append(append(h, name...), rest...)
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"pdf", []byte("%PDF-1.7\n%\xe2\xe3"), "application/pdf"},
		{"pdf after junk", []byte("\r\n\x00\x00%PDF-1.4"), "application/pdf"},
		{"html quoting a pdf header", []byte("<html><body>%PDF-1.4</body></html>"), "text/html"},
		{"html named .pdf", []byte("\n<!DOCTYPE html><html>"), "text/html"},
		{"jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF"), "image/jpeg"},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00"), "image/png"},
		{"tiff little-endian", []byte("II*\x00\x08\x00"), "image/tiff"},
		{"tiff big-endian", []byte("MM\x00*\x00\x00"), "image/tiff"},
		{"gif", []byte("GIF89a\x01\x00"), "image/gif"},
		{"heic", []byte("\x00\x00\x00\x18ftypheic\x00\x00"), "image/heic"},
		{"tnef", []byte("\x78\x9f\x3e\x22\x01\x00"), "application/vnd.ms-tnef"},
		{"docx", zipEntry("[Content_Types].xml", "...word/document.xml"), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"xlsx", zipEntry("[Content_Types].xml", "...xl/workbook.xml"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{"odt", zipEntry("mimetype", "application/vnd.oasis.opendocument.text"), "application/vnd.oasis.opendocument.text"},
		{"zip", zipEntry("photos/1.jpg", ""), "application/zip"},
		{"ole2", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00"), "application/x-ole-storage"},
		{"email", []byte("Received: from x\r\nFrom: a@b\r\nSubject: s\r\n\r\n"), "message/rfc822"},
		{"csv with a colon is no email", []byte("name: value\n1,2\n"), "text/plain"},
		{"text", []byte("Bonjour, voici mon dossier."), "text/plain"},
		{"empty", nil, "application/octet-stream"},
		{"binary", []byte{0, 1, 2, 3, 0xfe}, "application/octet-stream"},
	}
	for _, tc := range tests {
		if got := Sniff(tc.in); got != tc.want {
			t.Errorf("Sniff(%s %q) = %s, want %s", tc.name, tc.in, got, tc.want)
		}
	}
	if got := Sniff(append(bytes.Repeat([]byte(" "), SniffLen), "%PDF-"...)); got == "application/pdf" {
		t.Errorf("Sniff looked past %d bytes", SniffLen)
	}
}
