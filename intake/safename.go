package intake

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// SafeNameMax is the longest name SafeName returns, in bytes.
const SafeNameMax = 120

// maxExt is the longest extension kept whole when a name is shortened.
const maxExt = 16

// SafeName returns name made fit to be a storage key component, a file name
// on any system and a label shown to staff: only the last path element is
// kept ("../../x.txt" is "x.txt"), control characters become blanks, bidi
// controls and other invisible format characters are removed (so
// "photo\u202Efdp.exe" cannot pass for a PDF), characters Windows forbids
// become '_', blanks are collapsed, leading and trailing dots and blanks go,
// a device name (CON, NUL, COM1…) is prefixed with '_', the text is NFC
// normalised and cut to SafeNameMax bytes keeping the extension. It returns
// "" when nothing is left; the walker then makes a name from the part path.
func SafeName(name string) string {
	name = norm.NFC.String(strings.ToValidUTF8(name, "_"))
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	space := false
	for _, r := range name {
		switch {
		case unicode.IsControl(r) || unicode.IsSpace(r):
			space = true
			continue
		case unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			// Bidi controls (U+200E/F, U+202A–E, U+2066–9, U+061C), zero
			// widths and the like: invisible, so dropped.
			continue
		case strings.ContainsRune(`<>:"|?*`, r):
			r = '_'
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	name = strings.Trim(b.String(), ". ")
	if isDeviceName(name) {
		name = "_" + name
	}
	return truncateName(name, SafeNameMax)
}

// isDeviceName reports names that Windows reserves whatever the extension.
func isDeviceName(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	switch strings.ToUpper(strings.TrimSpace(base)) {
	case "CON", "PRN", "AUX", "NUL",
		"COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
		return true
	}
	return false
}

// splitExt splits "a.tar.pdf" into "a.tar" and ".pdf". A name that starts
// with its only dot, or whose "extension" is long or has blanks, has none.
func splitExt(name string) (base, ext string) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || len(name)-i > maxExt || strings.ContainsAny(name[i:], " ") {
		return name, ""
	}
	return name[:i], name[i:]
}

// truncateName cuts name to max bytes on a character boundary, keeping the
// extension.
func truncateName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	base, ext := splitExt(name)
	keep := max - len(ext)
	for keep > 0 && !utf8.RuneStart(base[keep]) {
		keep--
	}
	return strings.TrimRight(base[:keep], ". ") + ext
}

// nameSet hands out names unique within one message. Names are compared
// without case, as on the file systems staff download to.
type nameSet map[string]bool

func (s nameSet) unique(name string) string {
	key := strings.ToLower(name)
	if !s[key] {
		s[key] = true
		return name
	}
	base, ext := splitExt(name)
	for i := 2; ; i++ {
		suffix := " (" + strconv.Itoa(i) + ")"
		cand := truncateName(base, SafeNameMax-len(ext)-len(suffix)) + suffix + ext
		if k := strings.ToLower(cand); !s[k] {
			s[k] = true
			return cand
		}
	}
}

// fallbackName names a part that has no usable name: "part-2.1.pdf",
// "message-2.eml".
func fallbackName(p *Part) string {
	if p.Kind == KindEmbedded {
		return "message-" + p.Path + ".eml"
	}
	return "part-" + p.Path + extensionFor(p.ContentType)
}

// extensionFor is a fixed table, not the system's mime.types, so that names
// are the same on every machine.
func extensionFor(mediaType string) string {
	switch mediaType {
	case "application/pdf":
		return ".pdf"
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/gif":
		return ".gif"
	case "image/tiff":
		return ".tif"
	case "image/heic":
		return ".heic"
	case "image/webp":
		return ".webp"
	case "image/bmp":
		return ".bmp"
	case "text/plain":
		return ".txt"
	case "text/html":
		return ".html"
	case "text/xml", "application/xml":
		return ".xml"
	case "application/zip":
		return ".zip"
	case "application/gzip", "application/x-gzip":
		return ".gz"
	case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
		return ".docx"
	case "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
		return ".xlsx"
	case "application/vnd.openxmlformats-officedocument.presentationml.presentation":
		return ".pptx"
	case "application/vnd.oasis.opendocument.text":
		return ".odt"
	case "application/vnd.oasis.opendocument.spreadsheet":
		return ".ods"
	case "application/vnd.ms-tnef":
		return ".dat"
	case "message/rfc822":
		return ".eml"
	}
	return ".bin"
}
