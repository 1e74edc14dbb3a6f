package intake

import (
	"fmt"
	"io"
)

// Limits bound what one message may cost to walk. A message over a limit is
// not walked further: Walk returns a *PermanentError whose Limit names the
// limit, and the worker quarantines the message with that reason
// (DESIGN.md, "Limits"). A zero field takes its default.
type Limits struct {
	// MaxMessageBytes caps the raw message, all parts included.
	MaxMessageBytes int64
	// MaxDepth caps nesting: each multipart level and each embedded
	// message/rfc822 counts one.
	MaxDepth int
	// MaxParts caps the number of MIME entities (containers, leaves and
	// embedded messages).
	MaxParts int
	// MaxHeaderBytes caps one header block (the top message's or a part's).
	MaxHeaderBytes int64
	// SpoolMemory is how much of an embedded message is kept in memory
	// before it is spooled to a temporary file in SpoolDir ("" means
	// os.TempDir()). Not a limit on input, only on memory.
	SpoolMemory int64
	SpoolDir    string
}

// Names of the limits, as reported in PermanentError.Limit.
const (
	LimitMessageSize = "message_size"
	LimitMIMEDepth   = "mime_depth"
	LimitMIMEParts   = "mime_parts"
	LimitHeaderSize  = "mime_header_size"
)

// DefaultLimits are the limits of DESIGN.md: message 50 MB, depth 32,
// 1,000 parts, header block 1 MB.
var DefaultLimits = Limits{
	MaxMessageBytes: 50 << 20,
	MaxDepth:        32,
	MaxParts:        1000,
	MaxHeaderBytes:  1 << 20,
	SpoolMemory:     1 << 20,
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = d.MaxMessageBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxParts <= 0 {
		l.MaxParts = d.MaxParts
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.SpoolMemory <= 0 {
		l.SpoolMemory = d.SpoolMemory
	}
	return l
}

// overLimit builds the permanent error for an exceeded limit, naming the
// limit and the value that exceeded it.
func overLimit(limit string, value, max int64, where string) error {
	return &PermanentError{
		Limit: limit,
		Err:   fmt.Errorf("mime: %s %d exceeds the limit of %d (%s)", limit, value, max, where),
	}
}

// countingReader counts the raw bytes read and fails, stickily, once more
// than max were offered: the walker never reads a message past its limit.
type countingReader struct {
	r   io.Reader
	n   int64
	max int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	// Read at most one byte past the limit, enough to know it is exceeded.
	if room := c.max + 1 - c.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		c.err = overLimit(LimitMessageSize, c.n, c.max, "raw message bytes read so far")
		return 0, c.err
	}
	if err != nil {
		if err != io.EOF {
			err = fmt.Errorf("mime: read message: %w", err)
		}
		c.err = err
	}
	return n, err
}
