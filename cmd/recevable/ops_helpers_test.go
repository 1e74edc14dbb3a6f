package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"recevable/intake/imaptest"
	"recevable/storage"
)

// Helpers of the operator tests (metrics_test.go, logprivacy_test.go,
// replicas_test.go): scraping /metrics the way Prometheus does, and
// building submissions.

// families is one scrape, by metric name.
type families map[string]*dto.MetricFamily

// scrape GETs http://addr/metrics and parses it with Prometheus's own text
// parser.
func scrape(t testing.TB, addr string) families {
	t.Helper()
	fams, err := tryScrape(addr)
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	return fams
}

func tryScrape(addr string) (families, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// series returns the series of name whose labels include want.
func (f families) series(name string, want map[string]string) []*dto.Metric {
	mf := f[name]
	if mf == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range mf.GetMetric() {
		if hasLabels(m, want) {
			out = append(out, m)
		}
	}
	return out
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := labelsOf(m)
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// value is the value of the one series of name with exactly the labels
// want (a counter, a gauge, or a histogram's count); ok is false when there
// is none.
func (f families) value(name string, want map[string]string) (float64, bool) {
	for _, m := range f.series(name, want) {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// sum adds the values of every series of name whose labels include want.
func (f families) sum(name string, want map[string]string) float64 {
	total := 0.0
	for _, m := range f.series(name, want) {
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// waitUntil polls cond until it holds; limit only stops a broken test from
// hanging (it is not a performance bound).
func waitUntil(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("still waiting after %v for %s", limit, what)
		}
	}
}

// folderSize is the number of messages in a folder of srv (0 when it does
// not exist).
func folderSize(t testing.TB, srv *imaptest.Server, folder string) int {
	t.Helper()
	mb, ok := srv.Look(t, folder)
	if !ok {
		return 0
	}
	return len(mb.Messages)
}

// submission is an email filing with attachments (text files), CRLF.
func submission(id, from, subject, body string, attachments ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: titres-sejour@prefecture.example\r\nSubject: %s\r\n", from, subject)
	fmt.Fprintf(&b, "Message-ID: <%s@example.org>\r\nDate: Mon, 2 Mar 2026 09:00:00 +0100\r\n", id)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	fmt.Fprintf(&b, "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", body)
	for i, name := range attachments {
		fmt.Fprintf(&b, "--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=%q\r\n\r\npièce %d de %s\r\n", name, i+1, id)
	}
	b.WriteString("--b--\r\n")
	return []byte(b.String())
}

// manifests reads every dossier manifest of the bucket.
func manifests(t testing.TB, b storage.Bucket) []*storage.Manifest {
	t.Helper()
	ctx := context.Background()
	d := storage.Dossiers{Bucket: b}
	var out []*storage.Manifest
	err := storage.ListAll(ctx, b, "dossiers/", func(o storage.Info) error {
		if !strings.HasSuffix(o.Key, "/manifest.json") {
			return nil
		}
		number := o.Key[strings.LastIndex(strings.TrimSuffix(o.Key, "/manifest.json"), "/")+1 : len(o.Key)-len("/manifest.json")]
		m, _, err := d.Get(ctx, number)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", o.Key, err)
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// catalogued is one metric of deploy/metrics.txt: its type and its labels,
// each with its allowed values (nil: any).
type catalogued struct {
	typ    string
	labels map[string][]string
}

// catalogue reads deploy/metrics.txt, the contract with the dashboard and
// the alerts.
func catalogue(t testing.TB) map[string]catalogued {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "deploy", "metrics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]catalogued{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		c := catalogued{typ: fields[1], labels: map[string][]string{}}
		for _, l := range fields[2:] {
			name, values, ok := strings.Cut(l, "=")
			c.labels[name] = nil
			if ok {
				c.labels[name] = strings.Split(values, "|")
			}
		}
		out[fields[0]] = c
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkCatalogue reports every recevable_* series of f that the catalogue
// does not allow: unknown name, other type, other labels, a value not
// listed.
func checkCatalogue(t testing.TB, f families, cat map[string]catalogued) {
	t.Helper()
	for name, mf := range f {
		if !strings.HasPrefix(name, "recevable_") {
			continue
		}
		c, ok := cat[name]
		if !ok {
			t.Errorf("%s is exported but not in deploy/metrics.txt", name)
			continue
		}
		if typ := strings.ToLower(mf.GetType().String()); typ != c.typ {
			t.Errorf("%s is a %s, the catalogue says %s", name, typ, c.typ)
		}
		for _, m := range mf.GetMetric() {
			got := labelsOf(m)
			if len(got) != len(c.labels) {
				t.Errorf("%s%v: labels differ from the catalogue's %v", name, got, c.labels)
				continue
			}
			for l, v := range got {
				allowed, ok := c.labels[l]
				if !ok || (allowed != nil && !slices.Contains(allowed, v)) {
					t.Errorf("%s{%s=%q}: not allowed by the catalogue (%v)", name, l, v, allowed)
				}
			}
		}
	}
}
