package validate

import (
	"bytes"
	"mime"
	"net/http"
	"path"
	"strings"
)

// What a document is, from its bytes, and whether that disagrees with what
// its name and headers claim in a way that matters.

// docSniffLen is how much of the head is read to recognise a type: 1024 bytes
// because a PDF header may sit anywhere in the first kilobyte (ISO 32000-1
// §7.5.2 note; readers accept leading junk).
const docSniffLen = 1024

// docFamily groups media types by how they are checked and how dangerous they
// are to open.
type docFamily int

const (
	famUnknown    docFamily = iota
	famPDF                  // checked by chkPDF
	famImage                // checked by chkImage
	famHTML                 // active when opened in a browser
	famExecutable           // programs and scripts
	famOther                // office files, text, archives…: not checked
)

// sniff names the media type of a document from its first bytes. It knows
// the types the checks care about and defers to http.DetectContentType
// (WHATWG MIME sniffing) for the rest.
func docSniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")) || bytes.Contains(head, []byte("%PDF-")):
		return "application/pdf"
	case bytes.HasPrefix(head, []byte("II*\x00")) || bytes.HasPrefix(head, []byte("MM\x00*")):
		return "image/tiff"
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		switch string(head[8:12]) {
		case "heic", "heix", "heim", "heis", "hevc", "hevx":
			return "image/heic"
		case "mif1", "msf1":
			return "image/heif"
		case "avif", "avis":
			return "image/avif"
		}
	case bytes.HasPrefix(head, []byte("MZ")):
		return "application/x-msdownload"
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return "application/x-executable"
	case bytes.HasPrefix(head, []byte{0xfe, 0xed, 0xfa, 0xce}), bytes.HasPrefix(head, []byte{0xfe, 0xed, 0xfa, 0xcf}),
		bytes.HasPrefix(head, []byte{0xcf, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(head, []byte{0xce, 0xfa, 0xed, 0xfe}):
		return "application/x-mach-binary"
	case bytes.HasPrefix(head, []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}):
		return "application/x-ole-storage" // .doc, .xls, .msg
	}
	if docIsSVG(head) {
		return "image/svg+xml"
	}
	t, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	if t == "" {
		return "application/octet-stream"
	}
	return t
}

// docIsSVG recognises an SVG document: an XML or bare document whose first
// element is <svg.
func docIsSVG(head []byte) bool {
	s := bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n")
	for range 8 { // skip the XML declaration, comments and a DOCTYPE
		switch {
		case bytes.HasPrefix(s, []byte("<?")), bytes.HasPrefix(s, []byte("<!")):
			i := bytes.IndexByte(s, '>')
			if i < 0 {
				return false
			}
			s = bytes.TrimLeft(s[i+1:], " \t\r\n")
		default:
			return bytes.HasPrefix(s, []byte("<svg"))
		}
	}
	return false
}

// docFamilyOf maps a media type (any case, parameters allowed) to its docFamily.
func docFamilyOf(t string) docFamily {
	mt, _, err := mime.ParseMediaType(t)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(t))
	}
	switch {
	case mt == "" || mt == "application/octet-stream" || mt == "binary/octet-stream" || mt == "application/unknown":
		return famUnknown // says nothing about the content
	case mt == "application/pdf" || mt == "application/x-pdf" || mt == "application/acrobat":
		return famPDF
	case strings.HasPrefix(mt, "image/"):
		return famImage
	case mt == "text/html" || mt == "application/xhtml+xml":
		return famHTML
	case mt == "application/x-msdownload" || mt == "application/x-executable" || mt == "application/x-mach-binary" ||
		mt == "application/x-dosexec" || mt == "application/vnd.microsoft.portable-executable" ||
		mt == "application/x-msdos-program" || mt == "application/x-sh" || mt == "application/javascript" ||
		mt == "text/javascript" || mt == "application/x-bat" || mt == "application/java-archive" ||
		mt == "application/hta" || mt == "application/x-ms-shortcut":
		return famExecutable
	}
	return famOther
}

// docExtFamilies maps lower-case file extensions to the docFamily they claim.
var docExtFamilies = map[string]docFamily{
	".pdf": famPDF,
	".jpg": famImage, ".jpeg": famImage, ".jpe": famImage, ".jfif": famImage,
	".png": famImage, ".gif": famImage, ".tif": famImage, ".tiff": famImage,
	".webp": famImage, ".bmp": famImage, ".heic": famImage, ".heif": famImage,
	".avif": famImage, ".svg": famImage,
	".html": famHTML, ".htm": famHTML, ".xhtml": famHTML, ".shtml": famHTML,
	".exe": famExecutable, ".dll": famExecutable, ".scr": famExecutable, ".com": famExecutable,
	".msi": famExecutable, ".bat": famExecutable, ".cmd": famExecutable, ".js": famExecutable,
	".jse": famExecutable, ".vbs": famExecutable, ".vbe": famExecutable, ".wsf": famExecutable,
	".ps1": famExecutable, ".jar": famExecutable, ".lnk": famExecutable, ".hta": famExecutable,
	".sh": famExecutable, ".app": famExecutable, ".apk": famExecutable, ".cpl": famExecutable,
	".pif": famExecutable, ".reg": famExecutable,
	".doc": famOther, ".docx": famOther, ".odt": famOther, ".rtf": famOther, ".txt": famOther,
	".xls": famOther, ".xlsx": famOther, ".ods": famOther, ".csv": famOther,
	".ppt": famOther, ".pptx": famOther, ".odp": famOther, ".zip": famOther, ".eml": famOther, ".msg": famOther,
}

// docCheckType adds type_mismatch when the content is not what the name or the
// headers claim in a way that matters, and type_executable for programs:
//   - a name or header claiming a PDF or an image while the bytes are
//     something else (an .exe renamed .jpg, a "PDF" that is an HTML page);
//   - HTML or a program under any other name.
//
// Harmless differences are ignored: image/jpg for image/jpeg, a PNG named
// .jpg, a scan named .pdf that is a JPEG (it is checked as what it is), a
// generic application/octet-stream declaration, no extension at all.
func docCheckType(res *Result, info DocInfo) {
	actual := docFamilyOf(res.Type)
	ext := strings.ToLower(path.Ext(strings.TrimSpace(info.Name)))
	claims := []struct {
		what string
		fam  docFamily
	}{
		{info.Declared, docFamilyOf(info.Declared)},
		{ext, docExtFamilies[ext]},
	}
	for _, c := range claims {
		if c.fam == famUnknown || c.fam == famOther && actual == famOther {
			continue
		}
		checkable := func(f docFamily) bool { return f == famPDF || f == famImage }
		mismatch := checkable(c.fam) && !checkable(actual) ||
			(actual == famHTML || actual == famExecutable) && c.fam != actual
		if mismatch {
			res.add(docProblem(ProblemTypeMismatch, "content "+res.Type+", claimed "+c.what, res.Type, c.what))
		}
	}
	if actual == famExecutable || docExtFamilies[ext] == famExecutable || docFamilyOf(info.Declared) == famExecutable {
		res.add(docProblem(ProblemTypeExecutable, "content "+res.Type+", name extension "+ext))
	}
	if (actual == famOther || actual == famUnknown) && !strings.HasPrefix(res.Type, "text/plain") {
		res.add(docProblem(ProblemTypeNotChecked, res.Type, res.Type))
	}
}
