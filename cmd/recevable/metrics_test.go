package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"recevable/intake/imaptest"
	"recevable/storage"
)

// TestServeMetrics runs serve with the binary's own hooks (the real
// evidence search, the ops handler on metrics.listen) against the
// memserver, files five submissions (three dossiers, one over a limit, one
// sent twice) and scrapes /metrics as Prometheus would. Every value is
// compared with what happened: the counts of the script, and the dossiers,
// queue markers and quarantine entries found in the bucket afterwards.
func TestServeMetrics(t *testing.T) {
	srv := imaptest.StartMem(t, nil)
	dir := t.TempDir()
	addr := freeAddr(t)
	text := serveConfig(srv, dir, addr, freeAddr(t)) + "limits:\n  documents_per_dossier: 2\n"
	cfg, err := parseConfig([]byte(text), envMap(map[string]string{"RECEVABLE_TEST_IMAP_PASSWORD": srv.Password}))
	if err != nil {
		t.Fatal(err)
	}
	const source, site = "imap:pp/INBOX", "pp"
	first := submission("metrics-a", "demandeur.a@example.org", "Dépôt A", "Bonjour, voici mon dossier.", "passeport.txt")
	for _, m := range [][]byte{
		first,
		// A CCC ticket that no registry knows: evidence to check by hand.
		submission("metrics-b", "demandeur.b@example.org", "Dépôt B", "Le centre de contact citoyens m'a donné le ticket n° CCC-2026-118842."),
		submission("metrics-c", "demandeur.c@example.org", "Dépôt C", "Mes pièces.", "acte.txt", "bail.txt"),
		// Three documents, over limits.documents_per_dossier: quarantine.
		submission("metrics-q", "demandeur.q@example.org", "Dépôt Q", "Trop de pièces.", "un.txt", "deux.txt", "trois.txt"),
	} {
		srv.Append(t, "INBOX", m)
	}

	var logs bytes.Buffer
	lw := &syncWriter{w: &logs}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	started := time.Now()
	go func() { done <- serve(ctx, cfg, defaultServeHooks(), zerolog.New(lw)) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("serve did not stop")
		}
	}()
	// "item done" is logged once an item is acknowledged and counted.
	itemsDone := func(n int) func() bool {
		return func() bool {
			lw.mu.Lock()
			defer lw.mu.Unlock()
			return strings.Count(logs.String(), `"message":"item done"`) >= n
		}
	}
	waitUntil(t, "4 items done", 2*time.Minute, itemsDone(4))

	b, err := storage.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	ms := manifests(t, b)
	if len(ms) != 3 {
		t.Fatalf("%d dossiers in the bucket, want 3", len(ms))
	}
	quarantined := 0
	storage.ListAll(context.Background(), b, "quarantine/", func(storage.Info) error { quarantined++; return nil })
	// The queues and the quarantine are counted every 30 s, not at each
	// scrape: wait for the first count made since the work was done.
	waitUntil(t, "the queues counted", time.Minute, func() bool {
		f, err := tryScrape(addr)
		q, _ := f.value("recevable_quarantine_items", nil)
		return err == nil && f.sum("recevable_queue_dossiers", map[string]string{"site": site}) == float64(len(ms)) && q == float64(quarantined)
	})
	before := time.Now()
	f := scrape(t, addr)
	after := time.Now()

	type want struct {
		name   string
		labels map[string]string
		value  float64
	}
	var wants []want
	add := func(name string, value float64, kv ...string) {
		l := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		wants = append(wants, want{name, l, value})
	}
	// The script: three dossiers, one quarantined, nothing retried.
	add("recevable_intake_items_total", 3, "source", source, "result", "stored")
	add("recevable_intake_items_total", 1, "source", source, "result", "quarantined")
	add("recevable_stage_duration_seconds", 4, "stage", "fetch")
	add("recevable_stage_duration_seconds", 4, "stage", "store_raw")
	add("recevable_stage_duration_seconds", 4, "stage", "parse")
	for _, st := range []string{"validate", "verify", "write_dossier"} {
		add("recevable_stage_duration_seconds", 3, "stage", st)
	}
	// The bucket: outcomes and statuses of the dossiers written.
	outcomes, statuses := map[string]int{}, map[storage.Status]int{}
	oldest := map[storage.Status]time.Time{}
	for _, m := range ms {
		if m.Site != site || m.Channel != storage.ChannelEmail {
			t.Errorf("dossier %s: site %s channel %s", m.Number, m.Site, m.Channel)
		}
		outcomes[string(m.Decision.Outcome)]++
		statuses[m.Status]++
		if o, ok := oldest[m.Status]; !ok || m.ReceivedAt.Before(o) {
			oldest[m.Status] = m.ReceivedAt
		}
	}
	t.Logf("dossiers by outcome %v, by status %v", outcomes, statuses)
	for _, o := range []string{"recevable", "a_verifier", "irrecevable_propose"} {
		if outcomes[o] > 0 {
			add("recevable_dossiers_created_total", float64(outcomes[o]), "site", site, "channel", "email", "outcome", o)
		}
	}
	for _, st := range storage.Statuses {
		add("recevable_queue_dossiers", float64(statuses[st]), "site", site, "status", string(st))
	}
	if statuses[storage.StatusRecevable]+statuses[storage.StatusAVerifier] == 0 {
		t.Fatalf("no dossier waits in recevable or a_verifier (%v): the age check below would be empty", statuses)
	}
	add("recevable_quarantine_items", float64(quarantined), nil...)
	add("recevable_imap_connected", 1, "source", source)
	add("recevable_imap_reconnects_total", 0, "source", source)
	add("recevable_source_oldest_item_age_seconds", 0, "source", source)
	add("recevable_build_info", 1, "version", "dev")

	for _, w := range wants {
		got, ok := f.value(w.name, w.labels)
		if !ok || got != w.value {
			t.Errorf("%s%v = %v (exported: %v), want %v", w.name, w.labels, got, ok, w.value)
		}
	}
	// Code and catalogue agree: whatever is exported is catalogued, with
	// its labels and values; every catalogued series is there, but those
	// that wait for an event this script does not cause.
	cat := catalogue(t)
	checkCatalogue(t, f, cat)
	for name, c := range cat {
		if _, ok := f[name]; !ok && c.typ != "external" && name != "recevable_source_poll_failures_total" {
			t.Errorf("%s (deploy/metrics.txt) is not exported", name)
		}
	}
	if n := f.sum("recevable_intake_items_total", map[string]string{"result": "retried"}); n != 0 {
		t.Errorf("%v items retried, want 0", n)
	}

	// Age of the oldest dossier waiting, as of the scrape.
	for _, st := range storage.WaitingStatuses {
		got, ok := f.value("recevable_queue_oldest_age_seconds", map[string]string{"site": site, "status": string(st)})
		at, waiting := oldest[st]
		switch {
		case !ok:
			t.Errorf("recevable_queue_oldest_age_seconds{status=%q} not exported", st)
		case !waiting && got != 0:
			t.Errorf("recevable_queue_oldest_age_seconds{status=%q} = %v, want 0 (empty queue)", st, got)
		case waiting && (got < before.Sub(at).Seconds() || got > after.Sub(at).Seconds()):
			t.Errorf("recevable_queue_oldest_age_seconds{status=%q} = %v, want between %v and %v", st, got, before.Sub(at).Seconds(), after.Sub(at).Seconds())
		}
	}

	// The lease: held by this replica, under the holder it logged.
	holder := logField(t, &logs, lw, "recevable serving", "holder")
	if held := f.series("recevable_lease_held", map[string]string{"source": source}); len(held) != 1 ||
		labelsOf(held[0])["holder"] != holder || held[0].GetGauge().GetValue() != 1 {
		t.Errorf("recevable_lease_held{source=%q}: %v, want one series holder=%q at 1", source, held, holder)
	}
	if ts, _ := f.value("recevable_source_last_poll_success_timestamp_seconds", map[string]string{"source": source}); ts < float64(started.Unix()) || ts > float64(after.Unix()+1) {
		t.Errorf("last poll success at %v, want between the start (%d) and the scrape (%d)", ts, started.Unix(), after.Unix())
	}

	// Storage: every operation and result is exported, nothing failed, and
	// every object in the bucket was written by a counted put or copy.
	// (Counts and durations are not compared: leases are renewed while
	// the scrape reads them.)
	for _, op := range []string{"put", "get", "head", "list", "delete", "copy"} {
		for _, res := range []string{"ok", "not_found", "conflict", "error"} {
			if _, ok := f.value("recevable_storage_operations_total", map[string]string{"op": op, "result": res}); !ok {
				t.Errorf("recevable_storage_operations_total{op=%q,result=%q} not exported", op, res)
			}
		}
		if _, ok := f.value("recevable_storage_operation_duration_seconds", map[string]string{"op": op}); !ok {
			t.Errorf("recevable_storage_operation_duration_seconds{op=%q} not exported", op)
		}
		if e, _ := f.value("recevable_storage_operations_total", map[string]string{"op": op, "result": "error"}); e != 0 {
			t.Errorf("op %s: %v errors on a healthy bucket", op, e)
		}
	}
	objects := 0
	storage.ListAll(context.Background(), b, "", func(storage.Info) error { objects++; return nil })
	puts, _ := f.value("recevable_storage_operations_total", map[string]string{"op": "put", "result": "ok"})
	copies, _ := f.value("recevable_storage_operations_total", map[string]string{"op": "copy", "result": "ok"})
	if puts+copies < float64(objects) {
		t.Errorf("%v puts and %v copies succeeded, but the bucket holds %d objects", puts, copies, objects)
	}

	// The other endpoints of the ops listener.
	if got := httpGet(t, "http://"+addr+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz = %q", got)
	}
	if got := httpGet(t, "http://"+addr+"/readyz"); strings.TrimSpace(got) != `{"ready":true}` {
		t.Errorf("/readyz = %s", got)
	}

	// The first message again, byte for byte: a duplicate, no new dossier,
	// fetched and stored (found) but not parsed again.
	srv.Append(t, "INBOX", first)
	waitUntil(t, "the copy done", time.Minute, itemsDone(5))
	f = scrape(t, addr)
	for _, w := range []want{
		{"recevable_intake_items_total", map[string]string{"source": source, "result": "duplicate"}, 1},
		{"recevable_intake_items_total", map[string]string{"source": source, "result": "stored"}, 3},
		{"recevable_stage_duration_seconds", map[string]string{"stage": "fetch"}, 5},
		{"recevable_stage_duration_seconds", map[string]string{"stage": "parse"}, 4},
	} {
		if got, ok := f.value(w.name, w.labels); got != w.value {
			t.Errorf("after the copy: %s%v = %v (exported: %v), want %v", w.name, w.labels, got, ok, w.value)
		}
	}
	if got := f.sum("recevable_dossiers_created_total", nil); got != 3 {
		t.Errorf("after the copy: %v dossiers created, want still 3", got)
	}
}

// logField returns field of the first JSON log line whose message is msg.
func logField(t *testing.T, logs *bytes.Buffer, lw *syncWriter, msg, field string) string {
	t.Helper()
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for _, line := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
			s, _ := m[field].(string)
			return s
		}
	}
	t.Fatalf("no log line %q", msg)
	return ""
}
