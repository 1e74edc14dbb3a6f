package web

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// spool holds a verified object before it is sent: the bucket's verifying
// readers report an integrity failure only at the end of the bytes, and a
// browser must never be shown a document that turns out corrupted. Small
// objects stay in memory, large ones go to a temporary file.
type spool struct {
	mem  *bytes.Reader
	file *os.File
	size int64
}

// spoolMemory is the largest object kept in memory.
const spoolMemory = 8 << 20

// newSpool reads rc to the end (which is when verification happens) and
// closes it.
func newSpool(rc io.ReadCloser) (*spool, error) {
	defer rc.Close()
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, rc, spoolMemory+1)
	if err == io.EOF {
		return &spool{mem: bytes.NewReader(buf.Bytes()), size: n}, nil
	}
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "recevable-web-*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	os.Remove(f.Name()) // unlinked: gone when closed, whatever happens
	m, err := io.Copy(f, io.MultiReader(&buf, rc))
	if err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &spool{file: f, size: m}, nil
}

// Read implements io.Reader.
func (s *spool) Read(p []byte) (int, error) {
	if s.mem != nil {
		return s.mem.Read(p)
	}
	return s.file.Read(p)
}

// Close releases the temporary file, if any.
func (s *spool) Close() error {
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}
