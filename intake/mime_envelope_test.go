package intake

import (
	"io"
	"strings"
	"testing"
)

// The evidence search compares the sender's display name with the name an
// invitation was issued to, so the walker must hand it over decoded.
func TestEnvelopeFromName(t *testing.T) {
	tests := []struct {
		from, name, addr string
	}{
		{"Amina Diallo <amina.diallo@example.org>", "Amina Diallo", "amina.diallo@example.org"},
		{"=?utf-8?q?=C3=89lodie_N'Diaye?= <e.ndiaye@example.org>", "Élodie N'Diaye", "e.ndiaye@example.org"},
		{`"Ngu, Tran" <tran@example.org>, other@example.org`, "Ngu, Tran", "tran@example.org"},
		{"bare@example.org", "", "bare@example.org"},
		{"broken <<x@example.org>", "", "x@example.org"},
		{"", "", ""},
	}
	for _, tc := range tests {
		raw := "From: " + tc.from + "\r\nSubject: s\r\n\r\nbody\r\n"
		msg, err := Walk(strings.NewReader(raw), DefaultLimits, func(*Part, io.Reader) error { return nil })
		if err != nil {
			t.Fatalf("Walk(From: %q): %v", tc.from, err)
		}
		if msg.FromName != tc.name || msg.From != tc.addr {
			t.Errorf("Walk(From: %q) = name %q addr %q, want %q %q", tc.from, msg.FromName, msg.From, tc.name, tc.addr)
		}
	}
}
