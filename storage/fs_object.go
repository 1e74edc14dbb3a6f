package storage

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// An object file is its body, then a JSON header, then a fixed footer giving
// the header's length:
//
//	body | header JSON | "rcvobj1\n" | uint64 big-endian header length
//
// Body and metadata live in one file so that the rename that publishes a
// version publishes both: a reader never sees a body with another version's
// metadata. The header goes after the body because the ETag (a hash of the
// body) is only known once the body has streamed through.
const (
	fsMagic      = "rcvobj1\n"
	fsFooterLen  = len(fsMagic) + 8
	fsMaxHeader  = 1 << 20 // metadata is small; anything bigger is corruption
	fsHeaderVers = 1
)

// fsHeader is the metadata stored with an object file.
type fsHeader struct {
	Version     int               `json:"v"`
	Key         string            `json:"key"`
	ETag        ETag              `json:"etag"`
	Size        int64             `json:"size"`
	SHA256      string            `json:"sha256"`
	ContentType string            `json:"content_type"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Modified    time.Time         `json:"modified"`
	// RetainUntil is recorded for parity with S3 Object Lock but not
	// enforced: a local directory has no tamper-proof store to enforce it.
	RetainUntil *time.Time `json:"retain_until,omitempty"`
}

func (h *fsHeader) info() Info {
	md := make(map[string]string, len(h.Metadata))
	for k, v := range h.Metadata {
		md[k] = v
	}
	return Info{
		Key: h.Key, Size: h.Size, ETag: h.ETag, LastModified: h.Modified,
		ContentType: h.ContentType, Metadata: md,
	}
}

// writeTrailer appends the header and footer after a body already written to w.
func writeTrailer(w io.Writer, h *fsHeader) error {
	js, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode header: %w", err)
	}
	foot := make([]byte, 0, fsFooterLen)
	foot = append(foot, fsMagic...)
	foot = binary.BigEndian.AppendUint64(foot, uint64(len(js)))
	if _, err := w.Write(append(js, foot...)); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	return nil
}

// readHeader reads the header of an open object file and checks it against
// the file's size.
func readHeader(f *os.File) (*fsHeader, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat object: %w", err)
	}
	size := st.Size()
	if size < int64(fsFooterLen) {
		return nil, fmt.Errorf("object file %s: %d bytes, too short for a footer", f.Name(), size)
	}
	foot := make([]byte, fsFooterLen)
	if _, err := f.ReadAt(foot, size-int64(fsFooterLen)); err != nil {
		return nil, fmt.Errorf("read footer: %w", err)
	}
	if string(foot[:len(fsMagic)]) != fsMagic {
		return nil, fmt.Errorf("object file %s: bad footer magic", f.Name())
	}
	hlen := binary.BigEndian.Uint64(foot[len(fsMagic):])
	if hlen > fsMaxHeader || int64(hlen) > size-int64(fsFooterLen) {
		return nil, fmt.Errorf("object file %s: header length %d out of range", f.Name(), hlen)
	}
	js := make([]byte, hlen)
	if _, err := f.ReadAt(js, size-int64(fsFooterLen)-int64(hlen)); err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	var h fsHeader
	if err := json.Unmarshal(js, &h); err != nil {
		return nil, fmt.Errorf("object file %s: decode header: %w", f.Name(), err)
	}
	if h.Size != size-int64(fsFooterLen)-int64(hlen) {
		return nil, fmt.Errorf("object file %s: header says %d body bytes, file holds %d",
			f.Name(), h.Size, size-int64(fsFooterLen)-int64(hlen))
	}
	return &h, nil
}

// openObject opens an object file and reads its header. It returns
// ErrNotFound when the file does not exist; the caller closes f.
func openObject(path string) (*os.File, *fsHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
			return nil, nil, ErrNotFound
		}
		return nil, nil, fmt.Errorf("open object: %w", err)
	}
	h, err := readHeader(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, h, nil
}

// headObject reads an object file's header only.
func headObject(path string) (*fsHeader, error) {
	f, h, err := openObject(path)
	if err != nil {
		return nil, err
	}
	f.Close()
	return h, nil
}

// objectReader is a Get body: the body section of an open object file.
type objectReader struct {
	*io.SectionReader
	f *os.File
}

func (r *objectReader) Close() error { return r.f.Close() }
