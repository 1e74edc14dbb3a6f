package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAudit(t *testing.T) {
	ctx := context.Background()
	b := smallPages{Bucket: newRecFS(t), n: 3}
	clock := newFakeClock()
	a := Audit{Bucket: b, Now: clock.Now}
	// Events over three UTC days, one hour apart, starting 2026-03-14 20:30.
	clock.t = time.Date(2026, 3, 14, 20, 30, 0, 0, time.UTC)
	var all []AuditEvent
	for i := range 40 {
		e, err := a.Append(ctx, AuditEvent{Who: fmt.Sprint("agent", i%3), Action: "dossier.read", Dossier: FormatNumber("75", 2026, i+1)})
		if err != nil {
			t.Fatal(err)
		}
		if !e.At.Equal(clock.Now()) || !strings.HasPrefix(e.Key, "audit/2026/03/") {
			t.Errorf("Append = %+v", e)
		}
		all = append(all, e)
		clock.Add(time.Hour)
	}
	// An explicit time in another zone lands in its UTC day.
	late, err := a.Append(ctx, AuditEvent{At: time.Date(2026, 3, 16, 0, 45, 0, 0, time.FixedZone("CET", 3600)), Who: "agent9", Action: "dossier.status", Detail: "a_verifier→recevable"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(late.Key, "audit/2026/03/15/") {
		t.Errorf("event at 00:45 CET stored under %s, want the UTC day 2026/03/15", late.Key)
	}

	collect := func(fn func(func(AuditEvent) error) error) []string {
		var got []string
		if err := fn(func(e AuditEvent) error { got = append(got, e.Dossier+"@"+e.At.Format(time.RFC3339)); return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	wantBetween := func(from, to time.Time) []string {
		var want []string
		for _, e := range append(all[:len(all):len(all)], late) {
			if !e.At.Before(from) && e.At.Before(to) {
				want = append(want, e.Dossier+"@"+e.At.Format(time.RFC3339))
			}
		}
		// all is in time order; late falls between.
		sortByTime(want)
		return want
	}

	day := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	got := collect(func(fn func(AuditEvent) error) error { return a.Day(ctx, day, fn) })
	dayStart := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	if want := wantBetween(dayStart, dayStart.AddDate(0, 0, 1)); fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 25 {
		t.Errorf("Day(2026-03-15) = %d events %v\nwant %d %v", len(got), got, len(want), want)
	}
	// Range boundaries: from inclusive, to exclusive, to the nanosecond.
	from, to := all[3].At, all[30].At
	got = collect(func(fn func(AuditEvent) error) error { return a.Range(ctx, from, to, fn) })
	if want := wantBetween(from, to); fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 28 {
		t.Errorf("Range = %d events, want %d", len(got), len(want))
	}
	got = collect(func(fn func(AuditEvent) error) error { return a.Range(ctx, from, from.Add(time.Nanosecond), fn) })
	if len(got) != 1 {
		t.Errorf("Range of one nanosecond = %v, want the one event", got)
	}
	stop := errors.New("stop")
	if err := a.Range(ctx, from, to, func(AuditEvent) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Range returned %v, want fn's error", err)
	}

	for _, bad := range []AuditEvent{{Action: "x"}, {Who: "x"}, {Who: "x", Action: "y", Detail: strings.Repeat("d", 513)}} {
		if _, err := a.Append(ctx, bad); err == nil {
			t.Errorf("Append(%+v) accepted", bad)
		}
	}
}

func sortByTime(s []string) {
	at := func(x string) string { _, t, _ := strings.Cut(x, "@"); return t }
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && at(s[j]) < at(s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestAuditNeverOverwrites gives Append a random source that repeats itself:
// an event already written must survive, and the new one must go elsewhere or
// fail, never replace it.
func TestAuditNeverOverwrites(t *testing.T) {
	ctx := context.Background()
	b := newRecFS(t)
	clock := newFakeClock()
	same := bytes.Repeat([]byte{7}, 8)
	a := Audit{Bucket: b, Now: clock.Now, Rand: bytes.NewReader(bytes.Repeat(same, 10))}
	first, err := a.Append(ctx, AuditEvent{Who: "agent1", Action: "dossier.read"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, AuditEvent{Who: "agent2", Action: "dossier.status"}); err == nil {
		t.Error("Append with a colliding key succeeded")
	}
	// With the random source then moving on, the second event finds a key.
	a.Rand = bytes.NewReader(append(bytes.Clone(same), bytes.Repeat([]byte{8}, 8)...))
	second, err := a.Append(ctx, AuditEvent{Who: "agent2", Action: "dossier.status"})
	if err != nil || second.Key == first.Key {
		t.Errorf("Append after one collision = %q, %v", second.Key, err)
	}
	var whos []string
	if err := a.Day(ctx, clock.Now(), func(e AuditEvent) error { whos = append(whos, e.Who); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(whos) != 2 || whos[0] == whos[1] {
		t.Errorf("events stored: %v, want agent1 and agent2", whos)
	}
	var e AuditEvent
	if _, err := getJSON(ctx, b, first.Key, &e); err != nil || e.Who != "agent1" {
		t.Errorf("first event now %+v, %v", e, err)
	}
}
