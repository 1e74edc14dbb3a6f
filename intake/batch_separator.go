package intake

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The separator sheet: a page the mailroom slips between two letters of a
// batch, printed by `recevable separator`. It carries a large QR code whose
// payload starts with SeparatorPrefix, and may carry the next letter's
// postal data, written by `recevable separator --postmark … --ar …` when the
// mailroom prints one sheet per letter. The payload uses only the QR
// alphanumeric character set (0-9 A-Z space $ % * + - . / :, ISO/IEC 18004
// §7.4.4), which gives the smallest code, hence the largest modules, for a
// sheet that must be found on a page reduced to 75 dpi:
//
//	RECEVABLE/SEP/1                                    a bare separator
//	RECEVABLE/SEP/1/PM:2026-03-12/AR:1A12345678901     with postmark and registered-letter number
//	RECEVABLE/SEP/1/PM:2026-03-12/RC:2026-03-14        with postmark and receipt date
//
// Fields after the version, each KEY:VALUE, in any order, each at most once:
// PM the postmark date (CRPA L112-1), RC the date the mailroom received the
// letter, AR the number of a lettre recommandée avec avis de réception
// (letters and digits, 8 to 20). Unknown keys are ignored, so later versions
// of the sheet can add fields; any payload starting with "RECEVABLE/SEP/" is
// a separator, whatever its version, so an old reader never files a
// separator sheet as a page of a letter.

// SeparatorPrefix starts every separator payload.
const SeparatorPrefix = "RECEVABLE/SEP/"

// separatorVersion is the version written by Payload.
const separatorVersion = "1"

// Separator is what a separator sheet says about the letter that follows it.
// The zero value is a bare separator.
type Separator struct {
	// Postmark is the date on the envelope; zero when not written.
	Postmark Date
	// Received is the day the mailroom received the letter; zero when not
	// written.
	Received Date
	// Registered is the number of a registered letter (lettre recommandée
	// avec AR), upper-case letters and digits; empty when not written.
	Registered string
}

// ErrSeparatorField: a separator payload has a malformed field. The page is
// still a separator; the field is not used (never invented, never guessed).
var ErrSeparatorField = errors.New("separator field malformed")

// Payload is the QR payload of the sheet.
func (s Separator) Payload() string {
	var b strings.Builder
	b.WriteString(SeparatorPrefix + separatorVersion)
	if !s.Postmark.IsZero() {
		b.WriteString("/PM:" + s.Postmark.String())
	}
	if !s.Received.IsZero() {
		b.WriteString("/RC:" + s.Received.String())
	}
	if s.Registered != "" {
		b.WriteString("/AR:" + s.Registered)
	}
	return b.String()
}

// Check reports a field that Payload would write but ParseSeparator refuse.
func (s Separator) Check() error {
	if s.Registered != "" {
		if _, err := NormalizeRegistered(s.Registered); err != nil {
			return err
		}
	}
	return nil
}

// IsZero reports a bare separator.
func (s Separator) IsZero() bool { return s == Separator{} }

// ParseSeparator reads a code's payload. ok is false when the payload is not
// a separator's. A separator with a malformed field returns ok, the fields
// that were well formed, and an error wrapping ErrSeparatorField naming the
// bad one.
func ParseSeparator(payload string) (sep Separator, ok bool, err error) {
	rest, found := strings.CutPrefix(strings.TrimSpace(payload), SeparatorPrefix)
	if !found {
		return Separator{}, false, nil
	}
	version, fields, _ := strings.Cut(rest, "/")
	if version != separatorVersion {
		// A newer sheet: a separator, but its fields may mean other things.
		return Separator{}, true, nil
	}
	var errs []error
	seen := map[string]bool{}
	for _, f := range strings.Split(fields, "/") {
		if f == "" {
			continue
		}
		key, val, _ := strings.Cut(f, ":")
		if seen[key] {
			errs = append(errs, fmt.Errorf("%w: %s given twice", ErrSeparatorField, key))
			continue
		}
		seen[key] = true
		switch key {
		case "PM", "RC":
			d, err := ParseDate(val)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %s: %w", ErrSeparatorField, key, err))
				continue
			}
			if key == "PM" {
				sep.Postmark = d
			} else {
				sep.Received = d
			}
		case "AR":
			n, err := NormalizeRegistered(val)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: AR: %w", ErrSeparatorField, err))
				continue
			}
			sep.Registered = n
		}
	}
	return sep, true, errors.Join(errs...)
}

// NormalizeRegistered checks a registered-letter number and returns it
// without spaces, in upper case: La Poste prints them in groups
// ("1A 123 456 7890 1"), people type them in any case. 8 to 20 letters and
// digits are accepted, which covers La Poste's 13-character numbers and
// other carriers' without guessing which.
func NormalizeRegistered(s string) (string, error) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == ' ' || r == '-' || r == '.':
		case r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			return "", fmt.Errorf("registered-letter number: character %q", r)
		}
	}
	if n := b.Len(); n < 8 || n > 20 {
		return "", fmt.Errorf("registered-letter number: %d characters, want 8 to 20", n)
	}
	return b.String(), nil
}

// Date is a calendar day, without time of day or zone: a postmark or a
// receipt date as written by people. The zero value means "not recorded".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads YYYY-MM-DD (ISO 8601), the only form written by
// recevable and accepted in sidecars.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	if t.Year() < 2000 || t.Year() > 2999 {
		return Date{}, fmt.Errorf("date %q: year out of range", s)
	}
	return DateOf(t), nil
}

// DateOf is the calendar day of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// IsZero reports an unrecorded date.
func (d Date) IsZero() bool { return d == Date{} }

// String is YYYY-MM-DD, or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// In is midnight of the day in loc: how a day is stored in a manifest.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// MarshalText writes YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads YYYY-MM-DD; an empty string is the zero Date.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
