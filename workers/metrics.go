package workers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the series the workers own, named and labelled as in the
// metric catalogue (deploy/metrics.txt): the contract with the dashboard and
// the alert rules. Build them with NewMetrics on the registry of the process
// (or a fresh one in a test) and pass them in Options.
type Metrics struct {
	// IntakeItems counts items leaving the pipeline, by source and result.
	// result: stored | duplicate | quarantined | retried
	// (retried counts attempts that failed with a temporary error and were
	// scheduled again, so one item may count several times under retried
	// and then once under one of the other three).
	IntakeItems *prometheus.CounterVec
	// DossiersCreated counts dossiers registered.
	// channel: email | postal | upload
	// outcome: recevable | a_verifier | irrecevable_propose
	DossiersCreated *prometheus.CounterVec
	// StageDuration times each step of processing one item.
	// stage: fetch | store_raw | parse | validate | verify | write_dossier
	StageDuration *prometheus.HistogramVec
	// SourceOldestAge is the age of the oldest item taken from a source and
	// not yet acknowledged (0 when none is waiting).
	SourceOldestAge *prometheus.GaugeVec
	// SourceLastPollSuccess is the unix time of the last successful poll.
	SourceLastPollSuccess *prometheus.GaugeVec
	// SourcePollFailures counts failed polls (Next returned an error).
	SourcePollFailures *prometheus.CounterVec
	// LeaseHeld is 1 on the replica holding a source's lease, absent
	// elsewhere (the series is deleted when the lease is given up or lost).
	LeaseHeld *prometheus.GaugeVec
	// QuarantineItems is the number of quarantine entries in the bucket.
	QuarantineItems prometheus.Gauge
}

// Stage labels of StageDuration.
const (
	StageFetch        = "fetch"         // reading the spooled item and hashing it
	StageStoreRaw     = "store_raw"     // raw/<sha256> written (or found)
	StageParse        = "parse"         // MIME walk, documents spooled
	StageValidate     = "validate"      // validate.CheckDocument on every document
	StageVerify       = "verify"        // Assessor.Assess: evidence search and decision
	StageWriteDossier = "write_dossier" // number reserved, documents, manifest, done marker
)

// Result labels of IntakeItems.
const (
	ResultStored      = "stored"
	ResultDuplicate   = "duplicate"
	ResultQuarantined = "quarantined"
	ResultRetried     = "retried"
)

// stageBuckets cover a small email (milliseconds) up to a 50 MB message
// with a hundred PDFs on a slow bucket (minutes).
var stageBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// NewMetrics creates the workers' metrics and registers them on reg (nil:
// not registered, for callers that only want the values).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		IntakeItems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recevable_intake_items_total",
			Help: "Items taken from the sources, by result (stored, duplicate, quarantined, retried).",
		}, []string{"source", "result"}),
		DossiersCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recevable_dossiers_created_total",
			Help: "Dossiers registered, by site, channel and proposed outcome.",
		}, []string{"site", "channel", "outcome"}),
		StageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "recevable_stage_duration_seconds",
			Help:    "Time spent in each processing stage of one item.",
			Buckets: stageBuckets,
		}, []string{"stage"}),
		SourceOldestAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "recevable_source_oldest_item_age_seconds",
			Help: "Age of the oldest item taken from the source and not yet acknowledged (0 when empty).",
		}, []string{"source"}),
		SourceLastPollSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "recevable_source_last_poll_success_timestamp_seconds",
			Help: "Unix time of the last successful poll of the source.",
		}, []string{"source"}),
		SourcePollFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "recevable_source_poll_failures_total",
			Help: "Polls of the source that failed.",
		}, []string{"source"}),
		LeaseHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "recevable_lease_held",
			Help: "1 on the replica holding the lease of the source; absent elsewhere.",
		}, []string{"source", "holder"}),
		QuarantineItems: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "recevable_quarantine_items",
			Help: "Quarantine entries in the bucket.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.IntakeItems, m.DossiersCreated, m.StageDuration, m.SourceOldestAge,
			m.SourceLastPollSuccess, m.SourcePollFailures, m.LeaseHeld, m.QuarantineItems)
	}
	return m
}

// observe records the duration of a stage that started at start.
func (m *Metrics) observe(stage string, start time.Time) {
	m.StageDuration.WithLabelValues(stage).Observe(time.Since(start).Seconds())
}

// item counts one item of source with result.
func (m *Metrics) item(source, result string) {
	m.IntakeItems.WithLabelValues(source, result).Inc()
}
