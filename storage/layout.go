package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The key layout of the bucket. This comment and the functions below are the
// only place it is written; every record in this package builds its keys here.
//
//	raw/<sha256>                                     original bytes, content-addressed (raw.go)
//	                                                 metadata: sha256, size, source, coordinates, received-at
//	index/raw/<sha256>/<part>                        registration number reserved for part <part> of a raw
//	                                                 item (0: the whole item; 1..n: letters of a batch scan).
//	                                                 Written IfAbsent before the dossier (counter.go).
//	index/done/<sha256>                              the raw item is finished: its dossiers exist, or it is a
//	                                                 duplicate (raw.go). raw/ minus index/done/ minus
//	                                                 quarantine/ is the crash-recovery backlog.
//	index/message-id/<sha256 of Message-ID>          first raw sha seen with that Message-ID (raw.go)
//	dossiers/<site>/<year>/<number>/manifest.json    Manifest, written LAST: its existence is the commit
//	dossiers/<site>/<year>/<number>/documents/<safe> documents, SHA-256 in metadata and in the manifest
//	queue/<site>/<status>/<received>-<number>        empty markers; <received> is UTC, fixed width, so a
//	                                                 prefix listing is the queue in arrival order (queue.go)
//	quarantine/<sha256>.json                         QuarantineEntry (quarantine.go)
//	invitations/<site>/<reference>.json              issued invitations (owned by package validate)
//	ccc/tickets/<ticket>.json, ccc/registry.json     imported CCC ticket registry and its last import
//	                                                 (owned by package validate, cccregistry.go)
//	state/counters/<site>/<year>                     registration-number counter (counter.go)
//	state/cursors/<source>                           IMAP cursor (cursor.go)
//	state/leases/<source>                            source lease (lease.go)
//	state/claims/<sha256 of source and file name>    a drop file being taken by one replica
//	                                                 (owned by package intake, drop_claim.go)
//	state/accounts/<id>.json, state/sessions/<hash>.json  local accounts and staff sessions
//	                                                 (owned by package web)
//	audit/<yyyy>/<mm>/<dd>/<hhmmss.nnnnnnnnn>Z-<rand>.json  append-only audit events, UTC days (audit.go)
//
// Components that come from outside (source ids, invitation references) go
// through escapeComponent, so keys stay valid and bounded; Message-IDs are
// hashed. Site ids are checked by CheckSite, statuses by CheckStatus, SHA-256
// values by CheckSHA256 and document names by CheckSafeName before a key is
// built from them: the key functions assume checked input.

const (
	rawPrefix        = "raw/"
	rawIndexPrefix   = "index/raw/"
	donePrefix       = "index/done/"
	messageIDPrefix  = "index/message-id/"
	dossierPrefix    = "dossiers/"
	queuePrefix      = "queue/"
	quarantinePrefix = "quarantine/"
	invitationPrefix = "invitations/"
	counterPrefix    = "state/counters/"
	cursorPrefix     = "state/cursors/"
	leasePrefix      = "state/leases/"
	auditPrefix      = "audit/"

	quarantineSuffix = ".json"
	manifestName     = "manifest.json"
	documentsDir     = "documents/"
)

// receivedLayout is the sortable form of a receipt time in queue markers:
// fixed width (for years 1000-9999), UTC, so byte order is time order.
const receivedLayout = "20060102T150405.000000000Z"

// Errors of the layout checks. They wrap nothing: the input is wrong.
var (
	// ErrBadSite: a site id is not a short slug.
	ErrBadSite = errors.New("storage: invalid site id")
	// ErrBadNumber: a registration number is not <site>-<year>-<6 digits>.
	ErrBadNumber = errors.New("storage: invalid registration number")
	// ErrBadSHA256: a hash is not 64 lower-case hex digits.
	ErrBadSHA256 = errors.New("storage: invalid sha256")
	// ErrBadName: a document safe name cannot be a key segment.
	ErrBadName = errors.New("storage: invalid document name")
	// ErrBadStatus: a status is not one of Statuses.
	ErrBadStatus = errors.New("storage: invalid status")
)

// maxSiteLen bounds site ids: they appear in every dossier key and number.
const maxSiteLen = 32

// CheckSite accepts short slugs: 1 to 32 of [a-z0-9-], not starting or ending
// with "-" ("75", "pp", "2a", "sp-bobigny").
func CheckSite(site string) error {
	if site == "" || len(site) > maxSiteLen || site[0] == '-' || site[len(site)-1] == '-' {
		return fmt.Errorf("%w: %q", ErrBadSite, site)
	}
	for i := 0; i < len(site); i++ {
		c := site[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: %q", ErrBadSite, site)
		}
	}
	return nil
}

// CheckSHA256 accepts the lower-case hex form of a SHA-256, the only form
// used in keys.
func CheckSHA256(s string) error {
	if len(s) != sha256.Size*2 {
		return fmt.Errorf("%w: %q", ErrBadSHA256, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("%w: %q", ErrBadSHA256, s)
		}
	}
	return nil
}

// CheckStatus accepts the statuses listed in Statuses.
func CheckStatus(st Status) error {
	for _, s := range Statuses {
		if s == st {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrBadStatus, st)
}

// maxSafeName bounds document names: S3 keys are at most 1024 bytes and the
// filesystem backend hashes long segments, but a name this long is a bug.
const maxSafeName = 200

// CheckSafeName accepts a document name usable as one key segment: valid
// UTF-8, 1 to 200 bytes, no "/", "\", control characters, not "." or "..".
// Sanitising names is intake's job; this only refuses what would break keys.
func CheckSafeName(name string) error {
	if name == "" || len(name) > maxSafeName || name == "." || name == ".." || !utf8.ValidString(name) {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return fmt.Errorf("%w: %q", ErrBadName, name)
		}
	}
	return nil
}

// numberDigits is the width of the sequence part of a registration number.
const numberDigits = 6

// maxSequence is the largest sequence a registration number can carry.
const maxSequence = 999999

// FormatNumber builds a registration number, <site>-<year>-<6 digits>
// ("75-2026-000123"): the numéro chrono printed on the acknowledgment.
func FormatNumber(site string, year, seq int) string {
	return fmt.Sprintf("%s-%04d-%0*d", site, year, numberDigits, seq)
}

// ParseNumber splits a registration number into its site, year and sequence.
// The site may itself contain "-": the number is read from the right.
func ParseNumber(number string) (site string, year, seq int, err error) {
	bad := fmt.Errorf("%w: %q", ErrBadNumber, number)
	i := strings.LastIndexByte(number, '-')
	if i < 0 || len(number)-i-1 != numberDigits {
		return "", 0, 0, bad
	}
	j := strings.LastIndexByte(number[:i], '-')
	if j < 0 || i-j-1 != 4 {
		return "", 0, 0, bad
	}
	site = number[:j]
	year, err1 := strconv.Atoi(number[j+1 : i])
	seq, err2 := strconv.Atoi(number[i+1:])
	if err1 != nil || err2 != nil || year < 1000 || seq < 1 || CheckSite(site) != nil ||
		!allDigits(number[j+1:i]) || !allDigits(number[i+1:]) {
		return "", 0, 0, bad
	}
	return site, year, seq, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// maxComponent bounds an escaped external component; longer ones are hashed.
const maxComponent = 128

// escapeComponent turns an outside string (source id, reference) into one key
// segment: [A-Za-z0-9._-] kept (a leading "." escaped, so "." and ".." cannot
// appear), every other byte written %XX. An escaped form longer than 128
// bytes becomes "~" + SHA-256 hex of the input; escaping never produces "~",
// so the two forms cannot collide.
func escapeComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' && i > 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	if b.Len() == 0 || b.Len() > maxComponent {
		return "~" + hashHex(s)
	}
	return b.String()
}

// hashHex is the lower-case hex SHA-256 of s.
func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// RawKey is the key of a raw original.
func RawKey(sha string) string { return rawPrefix + sha }

// rawIndexKey is the key reserving a registration number for a claim
// (see RawClaim).
func rawIndexKey(claim string) string { return rawIndexPrefix + claim }

// doneKey marks a raw item finished.
func doneKey(sha string) string { return donePrefix + sha }

// messageIDKey indexes a Message-ID. The Message-ID is hashed: it is chosen
// by the sender, may be long and may hold anything.
func messageIDKey(msgID string) string { return messageIDPrefix + hashHex(msgID) }

// DossierPrefix is the folder holding one dossier, ending in "/". The number
// must be valid (ParseNumber).
func DossierPrefix(number string) string {
	site, year, _, err := ParseNumber(number)
	if err != nil {
		// Unreachable for checked numbers; a key that cannot collide with a
		// real dossier keeps a caller's bug from touching another dossier.
		return dossierPrefix + "invalid/" + escapeComponent(number) + "/"
	}
	return fmt.Sprintf("%s%s/%04d/%s/", dossierPrefix, site, year, number)
}

// ManifestKey is the key of a dossier's manifest.
func ManifestKey(number string) string { return DossierPrefix(number) + manifestName }

// DocumentKey is the key of one document of a dossier.
func DocumentKey(number, safeName string) string {
	return DossierPrefix(number) + documentsDir + safeName
}

// QueuePrefix is the prefix listing one queue: a site's dossiers in a status.
func QueuePrefix(site string, st Status) string {
	return queuePrefix + site + "/" + string(st) + "/"
}

// queueName is the last segment of a queue marker: sortable receipt time,
// then the number.
func queueName(received time.Time, number string) string {
	return received.UTC().Format(receivedLayout) + "-" + number
}

// QueueKey is the key of a queue marker.
func QueueKey(site string, st Status, received time.Time, number string) string {
	return QueuePrefix(site, st) + queueName(received, number)
}

// parseQueueName splits a marker's last segment back into time and number.
func parseQueueName(name string) (time.Time, string, error) {
	n := len(receivedLayout)
	if len(name) < n+2 || name[n] != '-' {
		return time.Time{}, "", fmt.Errorf("queue marker %q: malformed", name)
	}
	t, err := time.Parse(receivedLayout, name[:n])
	if err != nil {
		return time.Time{}, "", fmt.Errorf("queue marker %q: %w", name, err)
	}
	return t, name[n+1:], nil
}

// QuarantineKey is the key of a quarantine entry.
func QuarantineKey(sha string) string { return quarantinePrefix + sha + quarantineSuffix }

// InvitationKey is the key of an issued invitation; package validate owns the
// record. The reference is escaped (it is typed by people).
func InvitationKey(site, reference string) string {
	return invitationPrefix + site + "/" + escapeComponent(reference) + ".json"
}

// InvitationPrefix lists a site's invitations.
func InvitationPrefix(site string) string { return invitationPrefix + site + "/" }

// counterKey is the key of a site's counter for a year.
func counterKey(site string, year int) string {
	return fmt.Sprintf("%s%s/%04d", counterPrefix, site, year)
}

// cursorKey is the key of a source's cursor.
func cursorKey(source string) string { return cursorPrefix + escapeComponent(source) }

// leaseKey is the key of a source's lease.
func leaseKey(source string) string { return leasePrefix + escapeComponent(source) }

// auditTimeLayout is the time part of an audit key: fixed width, UTC.
const auditTimeLayout = "150405.000000000Z"

// auditDayPrefix lists one UTC day of audit events.
func auditDayPrefix(day time.Time) string {
	return auditPrefix + day.UTC().Format("2006/01/02") + "/"
}

// auditKey is the key of one audit event; rnd makes it unique.
func auditKey(at time.Time, rnd string) string {
	return auditDayPrefix(at) + at.UTC().Format(auditTimeLayout) + "-" + rnd + ".json"
}
