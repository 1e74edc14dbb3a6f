package web

import "io"

// Short names for the io types the route tests pass around.
type (
	ioReader     = io.Reader
	ioReadCloser = io.ReadCloser
)

func nopCloser(r io.Reader) io.ReadCloser { return io.NopCloser(r) }
