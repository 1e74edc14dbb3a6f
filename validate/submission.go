package validate

import (
	"context"
	"io"
	"time"

	"recevable/storage"
)

// Submission is what the evidence search looks at: everything that arrived
// in one filing, already parsed by intake, as plain values. validate does not
// import intake; the worker builds a Submission from the MIME walk or the
// batch split.
type Submission struct {
	// Site is the receiving site (prefecture or sub-prefecture).
	Site    string
	Channel storage.Channel
	// ReceivedAt is when the filing reached the prefecture.
	ReceivedAt time.Time
	// Postmark is the date on the envelope of a letter, when recorded.
	// CRPA L112-1: for a letter, the postmark date is the one that counts
	// against a deadline, so an invitation's expiry is checked against it.
	Postmark *time.Time
	// Subject of the email, decoded; empty for a letter.
	Subject string
	// Sender as known (email From, or the letter's sender recorded by the
	// mailroom).
	Sender storage.Party
	// Texts are the bodies to search: the text and HTML bodies of the email
	// and of forwarded messages, each with where it was found.
	Texts []Text
	// Documents are the files of the filing, in order.
	Documents []Doc
	// Embedded are forwarded messages (message/rfc822 parts and .eml
	// attachments) with their raw bytes, for DKIM verification of a CCC
	// attestation.
	Embedded []Embedded
	// Dossier is the registration number the filing will get (or has), used
	// to record the consumption of an invitation; empty in a dry run.
	Dossier string
}

// Text is one body of text.
type Text struct {
	Where string // "body", "body-html", "message 2 body"…
	HTML  bool
	Body  string
}

// Doc is one document of a submission.
type Doc struct {
	// Index is the document's position in the manifest (0-based).
	Index int
	// Name is the original file name, SafeName the stored one.
	Name     string
	SafeName string
	// Type is the sniffed media type.
	Type string
	Size int64
	// Open returns a fresh reader over the document's bytes.
	Open func() (io.ReadCloser, error)
	// Problems found by CheckDocument. A document with problems that make it
	// unreadable (encrypted, unparseable) is not searched, and evidence that
	// could only be in it is reported as such.
	Problems []Problem
}

// Embedded is a forwarded message.
type Embedded struct {
	Where string // "part 2", "document 3 (attestation.eml)"
	Open  func() (io.ReadCloser, error)
	Size  int64
}

// Assessment is the result of the evidence search, verification and
// decision for one submission.
type Assessment struct {
	Evidence []storage.Evidence
	Decision storage.Decision
	// Linked lists other dossiers that consumed the same invitation (a second
	// sending by the same applicant), to be linked in the manifest.
	Linked []string
}

// Assessor finds, verifies and decides. Assess never refuses on its own:
// arrêté 2023-08-01 art. 4 — it proposes an outcome that staff confirm. It
// returns an error only for infrastructure failures (bucket unreachable,
// context cancelled), which the worker retries; anything wrong with the
// submission itself is a finding in the Assessment.
type Assessor interface {
	Assess(ctx context.Context, s *Submission) (Assessment, error)
}
