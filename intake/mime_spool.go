package intake

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// spool holds a body that must be read twice (an embedded message: once for
// the caller, once to walk inside it; a uuencoded body: once to try, once to
// fall back). It stays in memory up to a threshold, then moves to a
// temporary file, so a large part is never held whole in memory.
type spool struct {
	mem bytes.Buffer
	f   *os.File
	n   int64
	max int64
	dir string
}

func newSpool(memMax int64, dir string) *spool {
	return &spool{max: memMax, dir: dir}
}

func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && int64(s.mem.Len()+len(p)) > s.max {
		f, err := os.CreateTemp(s.dir, "recevable-mime-*")
		if err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		s.f = f
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		s.mem = bytes.Buffer{}
	}
	var n int
	var err error
	if s.f != nil {
		n, err = s.f.Write(p)
		if err != nil {
			err = fmt.Errorf("spool: %w", err)
		}
	} else {
		n, err = s.mem.Write(p)
	}
	s.n += int64(n)
	return n, err
}

// Len is the number of bytes written.
func (s *spool) Len() int64 { return s.n }

// Reader returns a fresh reader over everything written so far.
func (s *spool) Reader() io.Reader {
	if s.f != nil {
		return io.NewSectionReader(s.f, 0, s.n)
	}
	return bytes.NewReader(s.mem.Bytes())
}

// Close frees the memory and removes the file.
func (s *spool) Close() error {
	s.mem = bytes.Buffer{}
	if s.f == nil {
		return nil
	}
	name := s.f.Name()
	err := s.f.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	s.f = nil
	return err
}
