package deploy

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

const alertsFile = "prometheus/alerts.yaml"

// loadRules parses the rule file as Prometheus itself does (promtool check
// rules runs the same rulefmt.Parse): unknown fields, bad durations, bad
// templates and unparsable expressions are errors.
func loadRules(t *testing.T) []rulefmt.Rule {
	t.Helper()
	groups, errs := rulefmt.Parse(read(t, alertsFile), false, model.UTF8Validation, promParser, nil)
	for _, err := range errs {
		t.Errorf("%s: %v", alertsFile, err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	var rules []rulefmt.Rule
	for _, g := range groups.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s has no rule", alertsFile)
	}
	return rules
}

// The alerts the issue asks for (source lag, poll failing, quarantine
// growing, S3 errors, no lease holder, dossiers waiting too long), and the
// others.
var wantAlerts = []string{
	"RecevableSourceLagHigh",
	"RecevableSourcePollFailing",
	"RecevableQuarantineGrowing",
	"RecevableStorageErrors",
	"RecevableLeaseUnheld",
	"RecevableDossiersWaitingTooLong",
	"RecevableLeaseHeldTwice",
	"RecevableDown",
}

// TestAlertRules checks the rule file: it parses as Prometheus rule groups,
// the expected alerts are there, each with a severity, a summary and a
// runbook, and every metric they use is in the catalogue.
func TestAlertRules(t *testing.T) {
	c := loadCatalogue(t)
	rules := loadRules(t)
	runbooks := readmeRunbooks(t)
	seen := map[string]bool{}
	for i, r := range rules {
		where := fmt.Sprintf("%s: rule %d (%s)", alertsFile, i, r.Alert)
		if r.Alert == "" {
			t.Errorf("%s: a recording rule: this file holds alerts only", where)
			continue
		}
		seen[r.Alert] = true
		c.checkExpr(t, where, r.Expr)
		if sev := r.Labels["severity"]; sev != "warning" && sev != "critical" {
			t.Errorf("%s: severity %q, want warning or critical", where, sev)
		}
		if time.Duration(r.For) < time.Minute {
			t.Errorf("%s: for %v: a single scrape must not page anyone", where, r.For)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", where, a)
			}
		}
		// The runbook_url points at the README section of the alert.
		anchor := "#" + strings.ToLower(r.Alert)
		if !strings.HasSuffix(r.Annotations["runbook_url"], "deploy/README.md"+anchor) {
			t.Errorf("%s: runbook_url %q does not end in deploy/README.md%s", where, r.Annotations["runbook_url"], anchor)
		}
		if !runbooks[r.Alert] {
			t.Errorf("%s: no runbook: deploy/README.md has no \"### %s\" under \"## Runbooks\"", where, r.Alert)
		}
	}
	for _, a := range wantAlerts {
		if !seen[a] {
			t.Errorf("%s: no alert %s", alertsFile, a)
		}
	}
	for a := range runbooks {
		if !seen[a] {
			t.Errorf("deploy/README.md: runbook for %s, which is no alert of %s", a, alertsFile)
		}
	}
}

// readmeRunbooks returns the titles of the ### sections of the "Runbooks"
// section of README.md, each with at least one line of text.
func readmeRunbooks(t *testing.T) map[string]bool {
	t.Helper()
	lines := strings.Split(string(read(t, "README.md")), "\n")
	in := false
	out := map[string]bool{}
	current, body := "", 0
	flush := func() {
		if current != "" && body == 0 {
			t.Errorf("deploy/README.md: runbook %s is empty", current)
		}
		if current != "" {
			out[current] = true
		}
		current, body = "", 0
	}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "## "):
			flush()
			in = strings.TrimSpace(l[3:]) == "Runbooks"
		case in && strings.HasPrefix(l, "### "):
			flush()
			current = strings.TrimSpace(l[4:])
		case in && current != "" && strings.TrimSpace(l) != "":
			body++
		}
	}
	flush()
	if len(out) == 0 {
		t.Fatal(`deploy/README.md has no "## Runbooks" section with "### <Alert>" entries`)
	}
	return out
}

// alertCase is a scenario for one alert: series in the notation of
// promtool's unit tests (one sample a minute from time 0, "1+0x60",
// "_" for a missing sample), and whether the alert fires at the end.
type alertCase struct {
	name   string
	alert  string
	series []string
	at     time.Duration
	// want lists the label sets (as {a="b"}) the alert fires with at at,
	// severity included; empty: it does not fire.
	want []string
}

// TestAlertScenarios evaluates the alert expressions on synthetic series
// with Prometheus's query engine, honouring "for", as promtool test rules
// would: each alert fires when it should and stays quiet otherwise.
func TestAlertScenarios(t *testing.T) {
	rules := loadRules(t)
	const src = `source="imap:pp/INBOX"`
	for _, tc := range []alertCase{
		{
			name: "source lag of 20 minutes", alert: "RecevableSourceLagHigh",
			series: []string{`recevable_source_oldest_item_age_seconds{` + src + `,pod="a"} 0+60x60`},
			at:     40 * time.Minute,
			want:   []string{`{severity="warning", ` + src + `}`},
		},
		{
			name: "source lag of 2 hours", alert: "RecevableSourceLagHigh",
			series: []string{`recevable_source_oldest_item_age_seconds{` + src + `,pod="a"} 0+60x180`},
			at:     150 * time.Minute,
			want:   []string{`{severity="critical", ` + src + `}`, `{severity="warning", ` + src + `}`},
		},
		{
			name: "items taken promptly", alert: "RecevableSourceLagHigh",
			series: []string{`recevable_source_oldest_item_age_seconds{` + src + `,pod="a"} 0 60 120 0 60 0 30 0x60`},
			at:     60 * time.Minute,
		},
		{
			// The replica that lost the lease keeps its old value; the
			// holder's recent one counts.
			name: "polls succeed on the holder", alert: "RecevableSourcePollFailing",
			series: []string{
				`recevable_source_last_poll_success_timestamp_seconds{` + src + `,pod="a"} 0+60x60`,
				`recevable_source_last_poll_success_timestamp_seconds{` + src + `,pod="b"} 0x60`,
			},
			at: 60 * time.Minute,
		},
		{
			name: "polls stopped succeeding", alert: "RecevableSourcePollFailing",
			series: []string{`recevable_source_last_poll_success_timestamp_seconds{` + src + `,pod="a"} 0+60x20 1200x40`},
			at:     60 * time.Minute,
			want:   []string{`{severity="critical", ` + src + `}`},
		},
		{
			name: "quarantine grew", alert: "RecevableQuarantineGrowing",
			series: []string{
				`recevable_quarantine_items{pod="a"} 2x60 3x60`,
				`recevable_quarantine_items{pod="b"} 2x60 3x60`,
			},
			at:   90 * time.Minute,
			want: []string{`{severity="warning"}`},
		},
		{
			name: "quarantine steady", alert: "RecevableQuarantineGrowing",
			series: []string{`recevable_quarantine_items{pod="a"} 4x120`},
			at:     110 * time.Minute,
		},
		{
			name: "quarantine emptied by reprocessing", alert: "RecevableQuarantineGrowing",
			series: []string{`recevable_quarantine_items{pod="a"} 4x60 0x60`},
			at:     110 * time.Minute,
		},
		{
			name: "S3 puts failing", alert: "RecevableStorageErrors",
			series: []string{
				`recevable_storage_operations_total{op="put",result="ok"} 0+10x60`,
				`recevable_storage_operations_total{op="put",result="error"} 0+5x60`,
				`recevable_storage_operations_total{op="get",result="ok"} 0+100x60`,
			},
			at:   40 * time.Minute,
			want: []string{`{op="put", severity="critical"}`},
		},
		{
			// Conditional writes losing a race are answers, not failures.
			name: "S3 conflicts and misses", alert: "RecevableStorageErrors",
			series: []string{
				`recevable_storage_operations_total{op="put",result="ok"} 0+10x60`,
				`recevable_storage_operations_total{op="put",result="conflict"} 0+10x60`,
				`recevable_storage_operations_total{op="get",result="not_found"} 0+10x60`,
			},
			at: 40 * time.Minute,
		},
		{
			name: "lease held", alert: "RecevableLeaseUnheld",
			series: []string{
				`recevable_source_last_poll_success_timestamp_seconds{` + src + `,pod="a"} 0+60x60`,
				`recevable_lease_held{` + src + `,holder="a",pod="a"} 1x60`,
			},
			at: 60 * time.Minute,
		},
		{
			name: "lease handed over", alert: "RecevableLeaseUnheld",
			series: []string{
				`recevable_source_last_poll_success_timestamp_seconds{` + src + `,pod="a"} 0+60x30`,
				`recevable_source_last_poll_success_timestamp_seconds{` + src + `,pod="b"} _x31 1860+60x29`,
				`recevable_lease_held{` + src + `,holder="a",pod="a"} 1x30`,
				`recevable_lease_held{` + src + `,holder="b",pod="b"} _x31 1x29`,
			},
			at: 60 * time.Minute,
		},
		{
			name: "lease dropped", alert: "RecevableLeaseUnheld",
			series: []string{
				`recevable_source_last_poll_success_timestamp_seconds{` + src + `,pod="a"} 0+60x30`,
				`recevable_lease_held{` + src + `,holder="a",pod="a"} 1x30`,
				`recevable_lease_held{source="drop:pp-courrier",holder="a",pod="a"} 1x60`,
			},
			at:   60 * time.Minute,
			want: []string{`{severity="critical", ` + src + `}`},
		},
		{
			name: "no lease at all", alert: "RecevableLeaseUnheld",
			series: []string{`recevable_build_info{version="1.0.0",pod="a"} 1x60`},
			at:     60 * time.Minute,
			want:   []string{`{severity="critical"}`},
		},
		{
			name: "lease held twice", alert: "RecevableLeaseHeldTwice",
			series: []string{
				`recevable_lease_held{` + src + `,holder="a",pod="a"} 1x60`,
				`recevable_lease_held{` + src + `,holder="b",pod="b"} 1x60`,
			},
			at:   30 * time.Minute,
			want: []string{`{severity="warning", ` + src + `}`},
		},
		{
			name: "dossier waiting 6 days", alert: "RecevableDossiersWaitingTooLong",
			series: []string{
				`recevable_queue_oldest_age_seconds{site="pp",status="a_verifier",pod="a"} 518400+60x120`,
				`recevable_queue_oldest_age_seconds{site="pp",status="recevable",pod="a"} 3600+60x120`,
			},
			at:   90 * time.Minute,
			want: []string{`{severity="warning", site="pp", status="a_verifier"}`},
		},
		{
			name: "dossier waiting 11 days", alert: "RecevableDossiersWaitingTooLong",
			series: []string{`recevable_queue_oldest_age_seconds{site="pp",status="recevable",pod="a"} 950400+60x120`},
			at:     90 * time.Minute,
			want:   []string{`{severity="critical", site="pp", status="recevable"}`, `{severity="warning", site="pp", status="recevable"}`},
		},
		{
			name: "replica down", alert: "RecevableDown",
			series: []string{
				`up{job="recevable",instance="10.0.0.1:9090"} 1x60`,
				`up{job="recevable",instance="10.0.0.2:9090"} 1x30 0x30`,
			},
			at:   60 * time.Minute,
			want: []string{`{instance="10.0.0.2:9090", job="recevable", severity="critical"}`},
		},
		{
			name: "no target at all", alert: "RecevableDown",
			series: []string{`up{job="other",instance="10.0.0.3:9090"} 1x60`},
			at:     60 * time.Minute,
			want:   []string{`{job="recevable", severity="critical"}`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := firing(t, rules, tc)
			want := slices.Clone(tc.want)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s at %v: fires %v, want %v", tc.alert, tc.at, got, want)
			}
		})
	}
}

// firing evaluates every rule named tc.alert at tc.at and returns the label
// sets that fire: the expression returned them at every evaluation (one a
// minute) over the rule's "for" period. Rule labels are added as Prometheus
// does.
func firing(t *testing.T, rules []rulefmt.Rule, tc alertCase) []string {
	t.Helper()
	q := loadSeries(t, tc.series)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	var out []string
	found := false
	for _, r := range rules {
		if r.Alert != tc.alert {
			continue
		}
		found = true
		var active map[string]bool
		for ts := tc.at - time.Duration(r.For); ts <= tc.at; ts += time.Minute {
			now := map[string]bool{}
			qr, err := engine.NewInstantQuery(context.Background(), q, nil, r.Expr, time.Unix(0, 0).Add(ts))
			if err != nil {
				t.Fatalf("%s: %v", r.Alert, err)
			}
			res := qr.Exec(context.Background())
			if res.Err != nil {
				t.Fatalf("%s at %v: %v", r.Alert, ts, res.Err)
			}
			vec, err := res.Vector()
			if err != nil {
				t.Fatalf("%s: %v", r.Alert, err)
			}
			for _, s := range vec {
				b := labels.NewBuilder(s.Metric).Del(labels.MetricName)
				for k, v := range r.Labels {
					b.Set(k, v)
				}
				key := b.Labels().String()
				if active == nil || active[key] {
					now[key] = true
				}
			}
			qr.Close()
			active = now
		}
		for k := range active {
			out = append(out, k)
		}
	}
	if !found {
		t.Fatalf("no alert %s in %s", tc.alert, alertsFile)
	}
	sort.Strings(out)
	return out
}

// loadSeries turns series descriptions into a queryable store, one sample a
// minute from the Unix epoch.
func loadSeries(t *testing.T, descs []string) storage.Queryable {
	t.Helper()
	var series []storage.Series
	for _, d := range descs {
		lset, values, err := promParser.ParseSeriesDesc(d)
		if err != nil {
			t.Fatalf("series %q: %v", d, err)
		}
		var samples []chunks.Sample
		for i, v := range values {
			if !v.Omitted {
				samples = append(samples, chunkSample{t: int64(i) * time.Minute.Milliseconds(), f: v.Value})
			}
		}
		series = append(series, storage.NewListSeries(lset, samples))
	}
	return &storage.MockQueryable{MockQuerier: &storage.MockQuerier{
		SelectMockFunction: func(_ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
			var sel []storage.Series
			for _, s := range series {
				if matchesAll(s.Labels(), ms) {
					sel = append(sel, s)
				}
			}
			sort.Slice(sel, func(i, j int) bool { return labels.Compare(sel[i].Labels(), sel[j].Labels()) < 0 })
			return &sliceSeriesSet{series: sel, i: -1}
		},
	}}
}

func matchesAll(l labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(l.Get(m.Name)) {
			return false
		}
	}
	return true
}

// sliceSeriesSet is a storage.SeriesSet over a slice.
type sliceSeriesSet struct {
	series []storage.Series
	i      int
}

func (s *sliceSeriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *sliceSeriesSet) At() storage.Series                { return s.series[s.i] }
func (s *sliceSeriesSet) Err() error                        { return nil }
func (s *sliceSeriesSet) Warnings() annotations.Annotations { return nil }

// chunkSample is a float sample, the chunks.Sample storage.NewListSeries
// wants.
type chunkSample struct {
	t int64
	f float64
}

func (s chunkSample) T() int64                      { return s.t }
func (s chunkSample) ST() int64                     { return 0 }
func (s chunkSample) F() float64                    { return s.f }
func (s chunkSample) H() *histogram.Histogram       { return nil }
func (s chunkSample) FH() *histogram.FloatHistogram { return nil }
func (s chunkSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s chunkSample) Copy() chunks.Sample           { return s }
