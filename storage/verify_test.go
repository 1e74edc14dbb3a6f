package storage

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestVerifyingReader(t *testing.T) {
	body := strings.Repeat("recevable ", 1000)
	sha := shaOf(body)
	corrupt := []byte(body)
	corrupt[len(corrupt)/2] ^= 1
	tests := []struct {
		name    string
		data    string
		size    int64
		wantErr bool
	}{
		{"intact, size known", body, int64(len(body)), false},
		{"intact, size unknown", body, -1, false},
		{"one bit flipped, size known", string(corrupt), int64(len(body)), true},
		{"one bit flipped, size unknown", string(corrupt), -1, true},
		{"truncated", body[:len(body)-1], int64(len(body)), true},
		{"truncated, size unknown", body[:len(body)-1], -1, true},
		{"one byte more", body + "x", int64(len(body)), true},
		{"one byte more, size unknown", body + "x", -1, true},
		{"empty", "", int64(len(body)), true},
	}
	for _, tc := range tests {
		for _, wrap := range []struct {
			name string
			fn   func(io.Reader) io.Reader
		}{{"plain", func(r io.Reader) io.Reader { return r }}, {"one byte", iotest.OneByteReader}, {"data+EOF", iotest.DataErrReader}} {
			vr := NewVerifyingReader(wrap.fn(strings.NewReader(tc.data)), sha, tc.size)
			got, err := io.ReadAll(vr)
			switch {
			case tc.wantErr && !errors.Is(err, ErrIntegrity):
				t.Errorf("%s/%s: ReadAll err = %v, want ErrIntegrity", tc.name, wrap.name, err)
			case !tc.wantErr && err != nil:
				t.Errorf("%s/%s: ReadAll err = %v", tc.name, wrap.name, err)
			case !tc.wantErr && string(got) != body:
				t.Errorf("%s/%s: read %d bytes, want %d", tc.name, wrap.name, len(got), len(body))
			}
			if vr.Verified() == tc.wantErr {
				t.Errorf("%s/%s: Verified() = %v", tc.name, wrap.name, vr.Verified())
			}
			// Sticky: a reader that failed never ends cleanly afterwards.
			if _, err2 := vr.Read(make([]byte, 1)); tc.wantErr && !errors.Is(err2, ErrIntegrity) {
				t.Errorf("%s/%s: Read after failure = %v, want ErrIntegrity again", tc.name, wrap.name, err2)
			}
		}
	}
}

// TestVerifyingReaderAtSize checks that a consumer reading exactly the
// recorded size and no further (net/http copies a body through
// io.LimitReader(body, ContentLength)) still gets the integrity error, and
// that one that drops the error (io.ReadFull does, once it has its bytes)
// can still tell from Verified.
func TestVerifyingReaderAtSize(t *testing.T) {
	body := []byte("exactly these bytes")
	bad := bytes.Clone(body)
	bad[0] = 'E'
	size := int64(len(body))
	vr := NewVerifyingReader(bytes.NewReader(bad), shaOf(string(body)), size)
	if _, err := io.Copy(io.Discard, io.LimitReader(vr, size)); !errors.Is(err, ErrIntegrity) {
		t.Errorf("copy of the recorded size = %v, want ErrIntegrity", err)
	}
	vr = NewVerifyingReader(bytes.NewReader(bad), shaOf(string(body)), size)
	io.ReadFull(vr, make([]byte, size))
	if vr.Verified() {
		t.Errorf("Verified() after reading corrupted bytes with ReadFull")
	}
	// The read that finds the mismatch withholds its bytes: a consumer
	// that sends what it reads (an HTTP body with a Content-Length) never
	// sends them all.
	for _, tc := range []struct {
		name string
		data []byte
		size int64
	}{
		{"corrupted", bad, size},
		{"one byte less", bad[1:], size},
	} {
		for _, chunk := range []int{1, 4, 64} {
			var sent bytes.Buffer
			vr = NewVerifyingReader(bytes.NewReader(tc.data), shaOf(string(body)), tc.size)
			_, err := io.CopyBuffer(&sent, io.LimitReader(struct{ io.Reader }{vr}, size), make([]byte, chunk))
			if !errors.Is(err, ErrIntegrity) || sent.Len() >= int(size) {
				t.Errorf("%s, %d-byte reads: sent %d of %d bytes, err %v; want fewer, ErrIntegrity", tc.name, chunk, sent.Len(), size, err)
			}
		}
	}
	vr = NewVerifyingReader(bytes.NewReader(body), shaOf(string(body)), size)
	if _, err := io.Copy(io.Discard, io.LimitReader(vr, size)); err != nil || !vr.Verified() {
		t.Errorf("copy of intact bytes = %v, Verified %v", err, vr.Verified())
	}
}

func TestDigest(t *testing.T) {
	sha, n, err := Digest(strings.NewReader("abc"))
	// FIPS 180-2 appendix B.1: SHA-256("abc").
	if err != nil || n != 3 || sha != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Digest(abc) = %s, %d, %v", sha, n, err)
	}
	if _, _, err := Digest(iotest.ErrReader(errInjected)); !errors.Is(err, errInjected) {
		t.Errorf("Digest(failing reader) err = %v", err)
	}
}
