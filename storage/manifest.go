package storage

import "time"

// ManifestSchema is the version of the manifest JSON written by this code.
// Readers accept every version up to it; a change that old readers would
// misread bumps it.
const ManifestSchema = 1

// Channel says how a submission arrived.
type Channel string

const (
	ChannelEmail  Channel = "email"  // the prefecture's dedicated mailbox
	ChannelPostal Channel = "postal" // a letter scanned by the mailroom
	ChannelUpload Channel = "upload" // uploaded through the staff interface
)

// Outcome is the art. 4 admissibility decision proposed by the pipeline.
// arrêté 2023-08-01 art. 4 al. 2: the pipeline proposes, staff decide.
type Outcome string

const (
	// OutcomeRecevable: valid evidence verified by signature or registry.
	OutcomeRecevable Outcome = "recevable"
	// OutcomeAVerifier: evidence present but not machine-verifiable.
	OutcomeAVerifier Outcome = "a_verifier"
	// OutcomeIrrecevablePropose: no evidence, or evidence proven false. Staff
	// must confirm before anything is sent to the applicant.
	OutcomeIrrecevablePropose Outcome = "irrecevable_propose"
)

// Status is where a dossier stands in the review workflow. The first three
// follow the proposed outcome; the others are set by staff.
type Status string

const (
	StatusRecevable          Status = "recevable"
	StatusAVerifier          Status = "a_verifier"
	StatusIrrecevablePropose Status = "irrecevable_propose"
	StatusEnInstruction      Status = "en_instruction"    // handed over, ANEF number recorded
	StatusPiecesManquantes   Status = "pieces_manquantes" // CRPA L114-5: missing pieces requested
	StatusIrrecevable        Status = "irrecevable"       // inadmissibility confirmed by staff
	StatusClos               Status = "clos"
)

// Statuses lists every status in workflow order.
var Statuses = []Status{
	StatusRecevable, StatusAVerifier, StatusIrrecevablePropose,
	StatusEnInstruction, StatusPiecesManquantes, StatusIrrecevable, StatusClos,
}

// Manifest is the dossier record: dossiers/<site>/<year>/<number>/manifest.json.
type Manifest struct {
	Schema int `json:"schema"`
	// Number is the registration number, <site>-<year>-<6 digits>.
	Number  string  `json:"number"`
	Site    string  `json:"site"`
	Channel Channel `json:"channel"`
	// ReceivedAt is when the submission reached the prefecture (IMAP internal
	// date, scan day or the mailroom's receipt date).
	ReceivedAt time.Time `json:"received_at"`
	// Postal holds the dates that matter for a letter (CRPA L112-1).
	Postal *Postal `json:"postal,omitempty"`
	// Raw is the SHA-256 of the original bytes (raw/<sha256>).
	Raw string `json:"raw"`
	// Source coordinates of the original (mailbox and UID, drop path…).
	Source    map[string]string `json:"source,omitempty"`
	MessageID string            `json:"message_id,omitempty"`
	Subject   string            `json:"subject,omitempty"`
	Sender    *Party            `json:"sender,omitempty"`
	Documents []Document        `json:"documents"`
	Evidence  []Evidence        `json:"evidence"`
	Decision  Decision          `json:"decision"`
	Status    Status            `json:"status"`
	// AssignedTo is the account that took the dossier, if any.
	AssignedTo string `json:"assigned_to,omitempty"`
	// ANEF is the téléservice number recorded at hand-over to instruction.
	ANEF string `json:"anef,omitempty"`
	// Missing lists the pieces requested under CRPA L114-5, with the deadline.
	Missing *MissingPieces `json:"missing,omitempty"`
	// Linked holds other dossiers of the same applicant (a second sending
	// with the same invitation, for instance).
	Linked  []string       `json:"linked,omitempty"`
	History []HistoryEntry `json:"history"`
}

// Postal is the metadata of a letter.
type Postal struct {
	// Postmark is the date on the envelope; it counts for deadlines
	// (CRPA L112-1). Nil when nobody recorded it: never invented.
	Postmark *time.Time `json:"postmark,omitempty"`
	// Received is the day the mailroom received the letter.
	Received *time.Time `json:"received,omitempty"`
	// Registered is the number of a lettre recommandée avec AR.
	Registered string `json:"registered,omitempty"`
	// Source says where these came from: "sidecar", "separator", "form".
	Source string `json:"source,omitempty"`
}

// Party is a sender as known from the submission.
type Party struct {
	Name    string `json:"name,omitempty"`
	Email   string `json:"email,omitempty"`
	Address string `json:"address,omitempty"`
}

// Document is one file of a dossier.
type Document struct {
	// Name is the original file name, decoded, as the sender wrote it.
	Name string `json:"name"`
	// SafeName is the stored name: sanitised, unique within the dossier.
	SafeName string `json:"safe_name"`
	// Type is the media type sniffed from the bytes; Declared is what the
	// sender's headers said.
	Type     string `json:"type"`
	Declared string `json:"declared,omitempty"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	// Path is the IMAP-style part path in the original message, or the page
	// range in a scan ("pages 3-5").
	Path        string `json:"path,omitempty"`
	Disposition string `json:"disposition,omitempty"`
	// Role is "attachment", "body-text", "body-html" or "scan".
	Role string `json:"role,omitempty"`
	// Problems found by the document checks; a document with problems is kept
	// and flagged, it does not sink the dossier.
	Problems []string `json:"problems,omitempty"`
}

// EvidenceKind names a kind of art. 4 evidence.
type EvidenceKind string

const (
	EvidenceInvitation EvidenceKind = "invitation"   // prefecture invitation issued by recevable
	EvidenceCCCEmail   EvidenceKind = "ccc_email"    // forwarded CCC email, DKIM-verified
	EvidenceCCCTicket  EvidenceKind = "ccc_ticket"   // CCC ticket number in the text
	EvidenceCCCPrint   EvidenceKind = "ccc_printout" // printed CCC email (PDF)
)

// Evidence is one piece of art. 4 evidence found in a submission, with what
// was checked and the result.
type Evidence struct {
	Kind EvidenceKind `json:"kind"`
	// Where it was found: "subject", "body", "document:2 (lettre.pdf) page 1 qr"…
	Where string `json:"where"`
	// Value is the reference, ticket or token found.
	Value string `json:"value,omitempty"`
	// Checks made, each with its result.
	Checks []Check `json:"checks"`
	// Verdict: "valid", "unverifiable" or "invalid".
	Verdict string `json:"verdict"`
}

// Check is one verification and its result.
type Check struct {
	Name   string `json:"name"` // "signature", "reference_checksum", "registry", "not_revoked"…
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Decision is the proposed art. 4 outcome and why.
type Decision struct {
	Outcome Outcome `json:"outcome"`
	// Reasons are machine-readable codes ("invitation_valid",
	// "no_evidence"…) with a French sentence for staff.
	Reasons []Reason `json:"reasons"`
	// Rule cited: "arrêté 2023-08-01 art. 4".
	Rule string    `json:"rule"`
	At   time.Time `json:"at"`
}

// Reason is one ground of a decision.
type Reason struct {
	Code string `json:"code"`
	Text string `json:"text"` // French, for staff
}

// MissingPieces is a CRPA L114-5 request.
type MissingPieces struct {
	Pieces   []string  `json:"pieces"`
	Deadline time.Time `json:"deadline"`
}

// HistoryEntry is one event in a dossier's life.
type HistoryEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"` // account id, or "recevable" for the pipeline
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}
