package intake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"recevable/storage"
)

// Postal metadata of a letter: the day the mailroom received it (by default
// the day it was scanned), the postmark date — the one that counts against
// a deadline (CRPA L112-1), so it is kept apart from the receipt date — the
// number of a registered letter (lettre recommandée avec AR), and the
// sender's name and postal address when the mailroom wrote them down. They
// come from a sidecar JSON file next to the scan, from the separator sheet
// before the letter (batch_separator.go), or from the mailroom's web form;
// what nobody recorded stays empty: never invented.
//
// A sidecar is named after its scan: scan0001.pdf → scan0001.json or
// scan0001.pdf.json. Its fields apply to every letter of the scan; the
// entries of "letters", in order, to one letter each and take precedence:
//
//	{
//	  "received": "2026-03-14",
//	  "postmark": "2026-03-12",
//	  "registered": "1A 123 456 7890 1",
//	  "sender": {"name": "…", "address": "…"},
//	  "letters": [{"postmark": "2026-03-11"}, {"registered": "RR123456789FR"}]
//	}
//
// The drop source reads the sidecar when it takes the scan and carries it
// in the item's coordinates (CoordSidecar), which the pipeline stores with
// the raw scan: a replay after a crash finds it there. Hence its size limit.

// Coordinates of a drop item about its sidecar.
const (
	// CoordSidecar holds the sidecar, base64url of its canonical JSON
	// (SidecarFromCoordinates reads it back).
	CoordSidecar = "sidecar"
	// CoordSidecarError says why a sidecar next to the scan was not used
	// (malformed, too large); the scan is processed without it.
	CoordSidecarError = "sidecar_error"
)

// MaxSidecarJSON bounds a sidecar's canonical JSON: base64 in the raw
// object's metadata, it must fit in S3's 2 KB of user metadata beside the
// other coordinates.
const MaxSidecarJSON = 700

// Limits on sidecar fields, in characters.
const (
	maxSenderName    = 200
	maxSenderAddress = 400
)

// PostalFields are the postal data recorded for a letter (or for all the
// letters of a scan).
type PostalFields struct {
	Postmark   Date           `json:"postmark,omitzero"`
	Received   Date           `json:"received,omitzero"`
	Registered string         `json:"registered,omitempty"`
	Sender     *SidecarSender `json:"sender,omitempty"`
}

// SidecarSender is the sender as the mailroom wrote it from the envelope.
type SidecarSender struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address,omitempty"`
}

// Sidecar is the JSON file next to a scan.
type Sidecar struct {
	PostalFields
	// Letters holds per-letter fields, letter 1 first.
	Letters []PostalFields `json:"letters,omitempty"`
}

// ErrSidecar: a sidecar file is not acceptable.
var ErrSidecar = errors.New("sidecar malformed")

// ParseSidecar reads and checks a sidecar: strict JSON (unknown fields
// refused: a typo must not silently drop a postmark), dates YYYY-MM-DD,
// registered numbers as NormalizeRegistered accepts them (stored
// normalised), names and addresses of printable UTF-8 within limits, and
// the whole within MaxSidecarJSON once made canonical.
func ParseSidecar(data []byte) (Sidecar, error) {
	var s Sidecar
	if len(data) > 16*MaxSidecarJSON {
		return Sidecar{}, fmt.Errorf("%w: %d bytes", ErrSidecar, len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Sidecar{}, fmt.Errorf("%w: %w", ErrSidecar, err)
	}
	if dec.More() {
		return Sidecar{}, fmt.Errorf("%w: data after the object", ErrSidecar)
	}
	if err := s.PostalFields.check(); err != nil {
		return Sidecar{}, err
	}
	for i := range s.Letters {
		if err := s.Letters[i].check(); err != nil {
			return Sidecar{}, fmt.Errorf("letters[%d]: %w", i, err)
		}
	}
	if b, _ := json.Marshal(s); len(b) > MaxSidecarJSON {
		return Sidecar{}, fmt.Errorf("%w: %d bytes once compacted, limit %d", ErrSidecar, len(b), MaxSidecarJSON)
	}
	return s, nil
}

// check validates and normalises the fields.
func (f *PostalFields) check() error {
	if f.Registered != "" {
		n, err := NormalizeRegistered(f.Registered)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrSidecar, err)
		}
		f.Registered = n
	}
	if f.Sender != nil {
		f.Sender.Name = strings.TrimSpace(f.Sender.Name)
		f.Sender.Address = strings.TrimSpace(f.Sender.Address)
		if err := checkText("sender.name", f.Sender.Name, maxSenderName); err != nil {
			return err
		}
		if err := checkText("sender.address", f.Sender.Address, maxSenderAddress); err != nil {
			return err
		}
		if *f.Sender == (SidecarSender{}) {
			f.Sender = nil
		}
	}
	return nil
}

// checkText accepts printable UTF-8 and line breaks (addresses have lines).
func checkText(field, s string, limit int) error {
	if utf8.RuneCountInString(s) > limit {
		return fmt.Errorf("%w: %s over %d characters", ErrSidecar, field, limit)
	}
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 && r != '\n' || r == 0x7f {
			return fmt.Errorf("%w: %s: control character or invalid UTF-8", ErrSidecar, field)
		}
	}
	return nil
}

// Encode is the CoordSidecar value of s.
func (s Sidecar) Encode() string {
	b, _ := json.Marshal(s) // plain values: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// SidecarFromCoordinates reads the sidecar an item carries, if any: ok is
// false without one. A value that does not decode is an error (bytes
// altered in the bucket's metadata).
func SidecarFromCoordinates(coords map[string]string) (s Sidecar, ok bool, err error) {
	v, found := coords[CoordSidecar]
	if !found || v == "" {
		return Sidecar{}, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return Sidecar{}, false, fmt.Errorf("%w: coordinate: %w", ErrSidecar, err)
	}
	s, err = ParseSidecar(b)
	if err != nil {
		return Sidecar{}, false, err
	}
	return s, true, nil
}

// LetterPostal is the postal record of one letter: letter is its index in
// the scan (1-based; 0 for a scan that is one letter), sidecar and sep what
// was recorded (either may be nil), scanned when the scan was made, loc the
// site's time zone (days are days there). Each field is taken from the
// sidecar's entry for the letter, else from the separator sheet, else from
// the sidecar's common fields; the receipt date defaults to the day of the
// scan. notes report disagreements and oddities for the dossier's history,
// without personal data.
func LetterPostal(letter int, sidecar *Sidecar, sep *Separator, scanned time.Time, loc *time.Location) (p storage.Postal, sender *storage.Party, notes []string) {
	if loc == nil {
		loc = time.UTC
	}
	var own, common PostalFields
	if sidecar != nil {
		common = sidecar.PostalFields
		if letter >= 1 && letter <= len(sidecar.Letters) {
			own = sidecar.Letters[letter-1]
		}
	}
	var sheet PostalFields
	if sep != nil {
		sheet = PostalFields{Postmark: sep.Postmark, Received: sep.Received, Registered: sep.Registered}
	}
	sources := map[string]bool{}
	pick := func(field string, get func(PostalFields) string) string {
		var chosen, from string
		for _, c := range []struct {
			name string
			f    PostalFields
		}{{"sidecar", own}, {"separator", sheet}, {"sidecar", common}} {
			v := get(c.f)
			if v == "" {
				continue
			}
			if chosen == "" {
				chosen, from = v, c.name
				sources[c.name] = true
			} else if v != chosen && c.name != from {
				// The sidecar's own entries override its common fields by
				// design; only the sheet and the sidecar disagreeing is news.
				notes = append(notes, fmt.Sprintf("%s: %s from the %s differs from %s, not used", field, v, c.name, chosen))
			}
		}
		return chosen
	}
	postmark := pick("postmark", func(f PostalFields) string { return f.Postmark.String() })
	received := pick("received", func(f PostalFields) string { return f.Received.String() })
	p.Registered = pick("registered", func(f PostalFields) string { return f.Registered })
	if postmark != "" {
		d, _ := ParseDate(postmark)
		t := d.In(loc)
		p.Postmark = &t
	}
	recv := DateOf(scanned.In(loc))
	if received != "" {
		recv, _ = ParseDate(received)
	}
	if !scanned.IsZero() || received != "" {
		t := recv.In(loc)
		p.Received = &t
	}
	if p.Postmark != nil && p.Received != nil && p.Postmark.After(*p.Received) {
		notes = append(notes, "postmark after the receipt date")
	}
	var names []string
	for _, n := range []string{"separator", "sidecar"} {
		if sources[n] {
			names = append(names, n)
		}
	}
	p.Source = strings.Join(names, "+")
	if p.Source == "" && p.Received != nil {
		p.Source = "scan" // only the default receipt date
	}
	for _, f := range []PostalFields{own, common} {
		if f.Sender != nil {
			sender = &storage.Party{Name: f.Sender.Name, Address: f.Sender.Address}
			break
		}
	}
	return p, sender, notes
}
