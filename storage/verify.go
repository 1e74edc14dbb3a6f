package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// VerifyingReader passes bytes through while computing their SHA-256 and
// counting them. At the end of the stream it compares both with what was
// recorded: on a mismatch the final Read returns ErrIntegrity instead of
// io.EOF, so a corrupted object never ends cleanly. That failing Read
// returns no bytes: it withholds the chunk that proved the mismatch, so a
// consumer that streams with a Content-Length (an S3 PUT) never delivers the
// whole announced body and the server never commits it. A caller that
// streams the bytes somewhere must still treat them as untrusted until it
// has seen io.EOF (a Put given this reader fails and stores nothing).
type VerifyingReader struct {
	r       io.Reader
	h       hash.Hash
	want    string
	size    int64 // expected size, -1 when unknown
	n       int64
	matched bool  // the hash matched over the expected bytes
	err     error // sticky: the first error returned, then always that
}

// NewVerifyingReader wraps r. wantSHA is the expected lower-case hex SHA-256;
// size the expected length, or -1 when only the hash is known. With a known
// size the hash is checked as soon as that many bytes went through, so a
// consumer that stops after size bytes (an S3 PUT with a Content-Length)
// still gets the error, in place of the last bytes. If r is an io.Closer,
// Close closes it.
func NewVerifyingReader(r io.Reader, wantSHA string, size int64) *VerifyingReader {
	return &VerifyingReader{r: r, h: sha256.New(), want: wantSHA, size: size}
}

// Read implements io.Reader. Every Read that detects a mismatch returns 0
// bytes with the error: the bytes it read are withheld (see the type).
func (v *VerifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	switch {
	case v.size >= 0 && v.n > v.size:
		// Too long: fail now rather than stream the excess.
		v.matched = false
		return 0, v.fail(fmt.Errorf("%w: more than the %d bytes recorded", ErrIntegrity, v.size))
	case v.size >= 0 && v.n == v.size && !v.matched:
		if ierr := v.compare(); ierr != nil {
			return 0, v.fail(ierr)
		}
	}
	switch {
	case err == io.EOF && v.size >= 0 && v.n < v.size:
		return 0, v.fail(fmt.Errorf("%w: %d bytes, %d recorded", ErrIntegrity, v.n, v.size))
	case err == io.EOF && v.size < 0:
		if ierr := v.compare(); ierr != nil {
			return 0, v.fail(ierr)
		}
		v.err = io.EOF
	case err != nil:
		v.err = err
	}
	return n, err
}

// compare checks the hash of what went through so far.
func (v *VerifyingReader) compare() error {
	if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
		return fmt.Errorf("%w: sha256 %s, %s recorded", ErrIntegrity, got, v.want)
	}
	v.matched = true
	return nil
}

func (v *VerifyingReader) fail(err error) error {
	v.err = err
	return err
}

// Close closes the wrapped reader when it is an io.Closer.
func (v *VerifyingReader) Close() error {
	if c, ok := v.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Verified reports whether every expected byte went through and matched the
// recorded hash, with no error since.
func (v *VerifyingReader) Verified() bool {
	return v.matched && (v.err == nil || v.err == io.EOF)
}

// Digest reads r to the end and returns its lower-case hex SHA-256 and size.
func Digest(r io.Reader) (sha string, size int64, err error) {
	h := sha256.New()
	size, err = io.Copy(h, r)
	if err != nil {
		return "", size, err
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

// putVerified stores r under key with o, verifying on the way that r yields
// exactly the bytes of hash sha (and size bytes when size >= 0). On a
// mismatch the Put fails with ErrIntegrity and stores nothing.
//
// The backend is given sha as PutOptions.SHA256: it refuses the body too
// (on S3 the server checks it, and the SDK need not hash the body again).
func putVerified(ctx context.Context, b Bucket, key string, r io.Reader, sha string, size int64, o PutOptions) (ETag, error) {
	vr := NewVerifyingReader(r, sha, size)
	var body io.Reader = vr
	if s, ok := seekableAt(r); ok {
		// The S3 client rewinds a seekable body to retry a request after a
		// 5xx or a dropped connection; a plain reader cannot be retried.
		body = &verifyingSeeker{VerifyingReader: vr, s: s.Seeker, start: s.pos}
	}
	o.SHA256 = sha
	etag, err := b.Put(ctx, key, body, o)
	if err != nil {
		if errors.Is(vr.err, ErrIntegrity) && !errors.Is(err, ErrIntegrity) {
			// The backend failed because of our reader but did not wrap its
			// error (the S3 backend's own size check, for one): the
			// verifier's diagnosis is the one callers test for.
			return "", fmt.Errorf("%w (backend: %v)", vr.err, err)
		}
		return "", err
	}
	if !vr.Verified() {
		// The backend stopped reading before the end without an error: what
		// it stored was never checked. With IfAbsent the object is ours to
		// remove; without, we remove what we cannot vouch for all the same.
		derr := b.Delete(ctx, key)
		return "", errors.Join(fmt.Errorf("%w: body not read to the end", ErrIntegrity), derr)
	}
	return etag, nil
}

// verifyingSeeker is a VerifyingReader over a seekable source. Seeking back
// to where it started begins the verification again, which is what the S3
// client does before each new attempt of a request. Reading from anywhere
// else fails: only a pass from the start can be verified.
type verifyingSeeker struct {
	*VerifyingReader
	s     io.Seeker
	start int64
}

// errNotAtStart is what a verifyingSeeker reads after a Seek elsewhere than
// its start (the S3 client seeks to the end to measure a body, then back).
var errNotAtStart = errors.New("verifying reader: read after a seek away from the start")

// Seek implements io.Seeker, with the positions of the source.
func (v *verifyingSeeker) Seek(offset int64, whence int) (int64, error) {
	pos, err := v.s.Seek(offset, whence)
	if err != nil {
		v.fail(err)
		return pos, err
	}
	if pos == v.start {
		v.h.Reset()
		v.n, v.matched, v.err = 0, false, nil
	} else {
		v.err = errNotAtStart
	}
	return pos, nil
}

// seekerAt is a seekable source and the offset it is at.
type seekerAt struct {
	io.Seeker
	pos int64
}

// seekableAt reports whether r can seek, by asking for its offset: an
// *os.File on a pipe has a Seek method that fails.
func seekableAt(r io.Reader) (seekerAt, bool) {
	s, ok := r.(io.Seeker)
	if !ok {
		return seekerAt{}, false
	}
	pos, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return seekerAt{}, false
	}
	return seekerAt{s, pos}, true
}

// checkSHA256Option rejects a PutOptions.SHA256 that is not a SHA-256 in
// the one form the backends compare it in.
func checkSHA256Option(o PutOptions) error {
	if o.SHA256 == "" {
		return nil
	}
	return CheckSHA256(o.SHA256)
}
