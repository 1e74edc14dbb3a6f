// Package intake owns what comes in: the sources (IMAP mailboxes, the
// mailroom's scan drop, an S3 prefix, web uploads) that yield raw items with
// an ack function, and the parsers that turn a raw item into documents (the
// MIME walk of mime.go, the batch split of scanned letters).
//
// It does not decide anything about admissibility (that is validate) and
// does not write dossiers (that is workers, through storage). A source's ack
// must be called only after the raw bytes are stored: that is what makes the
// pipeline lose nothing.
package intake
