package intake

import (
	"bytes"
	"net/http"
	"strings"
)

// SniffLen is how many leading bytes Sniff looks at.
const SniffLen = 1024

// Sniff returns the media type that the first bytes of a document show,
// whatever its name or its declared type say: a ".pdf" whose bytes are HTML
// is text/html. It knows the formats a dossier carries (PDF, JPEG, PNG, TIFF,
// GIF, HEIC, ZIP and the office formats inside ZIP, legacy Office, TNEF,
// e-mail messages) and falls back on net/http.DetectContentType (WHATWG
// MIME Sniffing). The result has no parameters.
func Sniff(head []byte) string {
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	switch {
	case len(head) == 0:
		return "application/octet-stream"
	case isPDF(head):
		return "application/pdf"
	case bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}):
		return "image/jpeg"
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return "image/tiff"
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "image/gif"
	case len(head) >= 12 && string(head[4:8]) == "ftyp" && isHEIFBrand(string(head[8:12])):
		return "image/heic"
	case bytes.HasPrefix(head, []byte{0x78, 0x9f, 0x3e, 0x22}):
		// TNEF signature 0x223E9F78, little-endian (MS-OXTNEF §2.1.3.1).
		return "application/vnd.ms-tnef"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return sniffZip(head)
	case bytes.HasPrefix(head, []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}):
		// OLE2 compound file: .doc, .xls, .msg… cannot be told apart here.
		return "application/x-ole-storage"
	case looksLikeMessage(head):
		return "message/rfc822"
	}
	t := http.DetectContentType(head)
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = t[:i]
	}
	return t
}

// isPDF: ISO 32000-1 §7.5.2 puts "%PDF-" first; readers accept junk before
// it within the first kilobyte, and so do we, unless that junk is markup
// (an HTML page that quotes a PDF header is HTML).
func isPDF(head []byte) bool {
	i := bytes.Index(head, []byte("%PDF-"))
	return i == 0 || i > 0 && bytes.IndexByte(head[:i], '<') < 0
}

func isHEIFBrand(b string) bool {
	switch b {
	case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1":
		return true
	}
	return false
}

// sniffZip tells OOXML and OpenDocument files from plain ZIP archives by the
// name of the first entry (ECMA-376 Part 2 puts [Content_Types].xml in every
// package; ODF 1.2 Part 3 §3.3 puts "mimetype" first, stored).
func sniffZip(head []byte) string {
	if len(head) < 30 {
		return "application/zip"
	}
	nameLen := int(head[26]) | int(head[27])<<8
	extraLen := int(head[28]) | int(head[29])<<8
	name := ""
	if 30+nameLen <= len(head) {
		name = string(head[30 : 30+nameLen])
	}
	if name == "mimetype" {
		start := 30 + nameLen + extraLen
		if start < len(head) {
			rest := string(head[start:])
			for _, t := range []string{
				"application/vnd.oasis.opendocument.text",
				"application/vnd.oasis.opendocument.spreadsheet",
				"application/vnd.oasis.opendocument.presentation",
				"application/vnd.oasis.opendocument.graphics",
			} {
				if strings.HasPrefix(rest, t) {
					return t
				}
			}
		}
		return "application/zip"
	}
	switch {
	case bytes.Contains(head, []byte("word/")):
		return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	case bytes.Contains(head, []byte("xl/")):
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case bytes.Contains(head, []byte("ppt/")):
		return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	case name == "[Content_Types].xml" || strings.HasPrefix(name, "_rels/") || strings.HasPrefix(name, "docProps/"):
		return "application/vnd.openxmlformats-package"
	}
	return "application/zip"
}

// messageHeaders are fields that only an e-mail message starts with.
var messageHeaders = []string{
	"received:", "return-path:", "from:", "date:", "subject:", "message-id:",
	"mime-version:", "dkim-signature:", "delivered-to:", "to:", "x-", "arc-",
	"authentication-results:", "reply-to:", "content-type:",
}

// looksLikeMessage reports whether head starts like an RFC 5322 message:
// its first line is a known header field and a From, Date, Subject or
// Message-ID field follows within the head.
func looksLikeMessage(head []byte) bool {
	lower := bytes.ToLower(head)
	first := lower
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	known := false
	for _, h := range messageHeaders {
		if bytes.HasPrefix(first, []byte(h)) {
			known = true
			break
		}
	}
	if !known || bytes.HasPrefix(first, []byte("content-type:")) && !bytes.Contains(lower, []byte("\nfrom:")) {
		return false
	}
	for _, h := range []string{"from:", "date:", "subject:", "message-id:"} {
		if bytes.HasPrefix(lower, []byte(h)) || bytes.Contains(lower, []byte("\n"+h)) {
			return true
		}
	}
	return false
}
