package web

import (
	"io"
	"net/http/httptest"
)

// Short names for the io types the route tests pass around.
type (
	ioReader     = io.Reader
	ioReadCloser = io.ReadCloser
)

func nopCloser(r io.Reader) io.ReadCloser { return io.NopCloser(r) }

// newRecorder records a response served in-process.
func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
