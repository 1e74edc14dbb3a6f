package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidKey: a key breaks the rules written on Bucket (empty, absolute,
// "." or ".." segment, NUL, invalid UTF-8, longer than 1024 bytes). Both
// backends check keys before touching storage, so a bad key fails the same way
// on a directory and on S3.
var ErrInvalidKey = errors.New("storage: invalid key")

// maxKeyLen is S3's limit on object key length, in bytes.
const maxKeyLen = 1024

// checkKey reports why key cannot name an object, or nil.
func checkKey(key string) error {
	bad := func(why string) error {
		// %q keeps control characters in the key readable in the message.
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why)
	}
	switch {
	case key == "":
		return bad("empty")
	case len(key) > maxKeyLen:
		return bad(fmt.Sprintf("%d bytes, more than %d", len(key), maxKeyLen))
	case !utf8.ValidString(key):
		return bad("not UTF-8")
	case strings.IndexByte(key, 0) >= 0:
		return bad("contains NUL")
	case key[0] == '/':
		return bad("absolute (starts with /)")
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case ".", "..":
			return bad(`has a "." or ".." segment`)
		case "":
			// S3 would accept "a//b" or "a/", but a directory cannot hold an
			// empty name; no record of ours needs one.
			return bad("has an empty segment (// or trailing /)")
		}
	}
	return nil
}

// On disk, every key segment but the last is a directory and the last is a
// file named after the segment plus fsObjSuffix. "a/b" is then the file
// "a/b~" and "a/b/c" the file "a/b/c~" inside the directory "a/b", so both can
// exist, as on S3. Segments are escaped so that a name ending in "~" is always
// an object and a name starting with "." always belongs to the backend
// (temporary files, locks): "%", "~", control bytes and a leading "." are
// written %XX. A segment whose escaped name would exceed what filesystems
// allow (255 bytes) is stored under fsHashPrefix + SHA-256 of the segment;
// its real name is then kept in the object header (files) or in a
// fsSegmentFile inside the directory.
const (
	fsObjSuffix   = "~"
	fsHashPrefix  = "%H" // never produced by escaping: "%" is always followed by hex
	fsSegmentFile = ".segment"
	fsMaxName     = 255
)

// fsEscape escapes one key segment into a file name component.
func fsEscape(seg string) string {
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c < 0x20 || c == 0x7f || c == '%' || c == '~' || (i == 0 && c == '.') {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// fsUnescape reverses fsEscape. ok is false for names the backend did not
// write, which listings ignore.
func fsUnescape(name string) (seg string, ok bool) {
	if !strings.Contains(name, "%") {
		return name, true
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] != '%' {
			b.WriteByte(name[i])
			continue
		}
		if i+2 >= len(name) {
			return "", false
		}
		v, err := hex.DecodeString(name[i+1 : i+3])
		if err != nil {
			return "", false
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), true
}

// fsDirName is the directory name of a non-final segment.
func fsDirName(seg string) (name string, hashed bool) {
	e := fsEscape(seg)
	if len(e) > fsMaxName {
		return fsHashedName(seg), true
	}
	return e, false
}

// fsFileName is the file name of a final segment.
func fsFileName(seg string) string {
	e := fsEscape(seg) + fsObjSuffix
	if len(e) > fsMaxName {
		return fsHashedName(seg) + fsObjSuffix
	}
	return e
}

func fsHashedName(seg string) string {
	sum := sha256.Sum256([]byte(seg))
	return fsHashPrefix + hex.EncodeToString(sum[:])
}

// checkPutOptions rejects options no backend can honour the same way:
// metadata must survive an HTTP header round trip unchanged on S3.
func checkPutOptions(o PutOptions) error {
	if o.IfAbsent && o.IfMatch != "" {
		return errors.New("IfAbsent and IfMatch are exclusive")
	}
	for k, v := range o.Metadata {
		if k == "" {
			return errors.New("empty metadata key")
		}
		for i := 0; i < len(k); i++ {
			c := k[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return fmt.Errorf("metadata key %q: only a-z 0-9 - _ . allowed", k)
			}
		}
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				return fmt.Errorf("metadata %q: value is not printable ASCII (encode it)", k)
			}
		}
		// HTTP trims header values; keep both backends identical.
		if strings.TrimSpace(v) != v {
			return fmt.Errorf("metadata %q: value has leading or trailing spaces", k)
		}
	}
	return nil
}
