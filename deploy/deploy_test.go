package deploy

// Helpers shared by the tests of this package, and the metric catalogue
// (metrics.txt) that the dashboard and the alert rules are checked against.
// The tests are offline: no registry, no cluster, no Docker engine.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// inCI reports whether the tests run in CI, where a missing tool is a
// failure rather than a reason to skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// needTool returns the path of an executable, skipping the test outside CI
// when it is missing and failing it in CI.
func needTool(t *testing.T, name, why string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if inCI() {
		t.Fatalf("%s is needed %s and is not installed (CI=true)", name, why)
	}
	t.Skipf("%s is not installed: cannot check %s", name, why)
	return ""
}

// read returns the content of a file of deploy/, failing the test if it
// cannot be read.
func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// metricKind is how a catalogue entry may be used in a query.
type metricKind string

const (
	kindCounter   metricKind = "counter"
	kindGauge     metricKind = "gauge"
	kindHistogram metricKind = "histogram"
	kindExternal  metricKind = "external" // not exported by recevable (up)
)

// catalogueMetric is one line of metrics.txt.
type catalogueMetric struct {
	name string
	kind metricKind
	// labels maps each label to its allowed values; nil means any value.
	labels map[string][]string
}

// catalogue is metrics.txt indexed by every series name a query may use
// (a histogram gives NAME_bucket, NAME_sum and NAME_count).
type catalogue struct {
	metrics map[string]*catalogueMetric // by catalogue name
	series  map[string]*catalogueMetric // by series name
}

// targetLabels are attached by Prometheus to every scraped series, or by the
// Prometheus Operator from Kubernetes metadata; any query may use them.
var targetLabels = map[string]bool{
	"job": true, "instance": true, "namespace": true, "pod": true,
	"service": true, "container": true, "endpoint": true,
}

var reMetricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// loadCatalogue parses metrics.txt: NAME TYPE [LABEL[=V|V…]]… per line.
func loadCatalogue(t *testing.T) *catalogue {
	t.Helper()
	c := &catalogue{metrics: map[string]*catalogueMetric{}, series: map[string]*catalogueMetric{}}
	sc := bufio.NewScanner(strings.NewReader(string(read(t, "metrics.txt"))))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("metrics.txt:%d: want NAME TYPE [LABELS], got %q", n, line)
		}
		m := &catalogueMetric{name: f[0], kind: metricKind(f[1]), labels: map[string][]string{}}
		if !reMetricName.MatchString(m.name) {
			t.Fatalf("metrics.txt:%d: %q is not a metric name", n, m.name)
		}
		switch m.kind {
		case kindCounter:
			if !strings.HasSuffix(m.name, "_total") {
				t.Errorf("metrics.txt:%d: counter %s does not end in _total", n, m.name)
			}
		case kindGauge, kindExternal:
		case kindHistogram:
			if !strings.HasSuffix(m.name, "_seconds") {
				t.Errorf("metrics.txt:%d: histogram %s has no unit suffix", n, m.name)
			}
		default:
			t.Fatalf("metrics.txt:%d: unknown type %q", n, m.kind)
		}
		for _, l := range f[2:] {
			name, values, hasValues := strings.Cut(l, "=")
			if _, dup := m.labels[name]; dup {
				t.Fatalf("metrics.txt:%d: label %s twice", n, name)
			}
			m.labels[name] = nil
			if hasValues {
				m.labels[name] = strings.Split(values, "|")
			}
		}
		if _, dup := c.metrics[m.name]; dup {
			t.Fatalf("metrics.txt:%d: %s listed twice", n, m.name)
		}
		c.metrics[m.name] = m
		c.series[m.name] = m
		if m.kind == kindHistogram {
			delete(c.series, m.name) // only its three series exist
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				c.series[m.name+s] = m
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(c.metrics) == 0 {
		t.Fatal("metrics.txt lists no metric")
	}
	return c
}

// promParser is the parser the rule files are checked with: the same options
// as Prometheus's defaults.
var promParser = parser.NewParser(parser.Options{})

// check parses a PromQL expression and checks that every series it selects
// is in the catalogue, with catalogued labels and values. It returns the
// catalogue names used and what is wrong.
func (c *catalogue) check(expr string) (used []string, problems []error) {
	e, err := promParser.ParseExpr(expr)
	if err != nil {
		return nil, []error{err}
	}
	seen := map[string]bool{}
	bad := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		m, ok := c.series[vs.Name]
		if !ok {
			bad("metric %q is not in metrics.txt", vs.Name)
			return nil
		}
		seen[m.name] = true
		isBucket := m.kind == kindHistogram && strings.HasSuffix(vs.Name, "_bucket")
		for _, lm := range vs.LabelMatchers {
			if lm.Name == labels.MetricName || targetLabels[lm.Name] || (isBucket && lm.Name == "le") {
				continue
			}
			values, ok := m.labels[lm.Name]
			switch {
			case !ok:
				bad("%s has no label %q in metrics.txt", vs.Name, lm.Name)
			case values == nil:
				// Any value.
			case lm.Type == labels.MatchEqual && !slices.Contains(values, lm.Value):
				bad("%s{%s=%q}: not a value of %s in metrics.txt (%s)", vs.Name, lm.Name, lm.Value, lm.Name, strings.Join(values, ", "))
			case lm.Type == labels.MatchRegexp:
				// Every alternative must be a listed value: a typo in one
				// would silently match nothing.
				for _, alt := range strings.Split(lm.Value, "|") {
					if alt != ".*" && alt != ".+" && !slices.Contains(values, alt) {
						bad("%s{%s=~%q}: %q is not a value of %s in metrics.txt (%s)", vs.Name, lm.Name, lm.Value, alt, lm.Name, strings.Join(values, ", "))
					}
				}
			}
		}
		return nil
	})
	for n := range seen {
		used = append(used, n)
	}
	sort.Strings(used)
	return used, problems
}

// checkExpr is check reporting its problems as errors of t, prefixed with
// where.
func (c *catalogue) checkExpr(t *testing.T, where, expr string) []string {
	t.Helper()
	used, problems := c.check(expr)
	for _, p := range problems {
		t.Errorf("%s: %v\n%s", where, p, expr)
	}
	return used
}

// TestCatalogueCheckCatches makes sure the catalogue check rejects what it
// is meant to reject, so that a passing dashboard or rule test means
// something.
func TestCatalogueCheckCatches(t *testing.T) {
	c := loadCatalogue(t)
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{`sum(rate(recevable_intake_items_total{result="stored"}[5m]))`, true},
		{`histogram_quantile(0.9, sum by (le) (rate(recevable_stage_duration_seconds_bucket{stage="parse"}[5m])))`, true},
		{`recevable_queue_oldest_age_seconds{status=~"recevable|a_verifier"}`, true},
		{`recevable_queue_dossiers{site=~".*", status!="clos"}`, true},
		{`up{job="recevable"}`, true},
		{`recevable_intake_items_total{result="stored", job="recevable"}`, true},
		{`rate(recevable_intake_item_total[5m])`, false},                             // misspelt name
		{`recevable_intake_items_total{result="quarantine"}`, false},                 // unknown value
		{`recevable_intake_items_total{outcome="recevable"}`, false},                 // label of another metric
		{`recevable_queue_oldest_age_seconds{status=~"recevable|a_verfier"}`, false}, // one alternative misspelt
		{`recevable_stage_duration_seconds`, false},                                  // a histogram has no plain series
		{`sum(rate(recevable_intake_items_total[5m])`, false},                        // syntax
	} {
		_, problems := c.check(tc.expr)
		if ok := len(problems) == 0; ok != tc.ok {
			t.Errorf("check(%s) accepted = %v (%v), want %v", tc.expr, ok, problems, tc.ok)
		}
	}
}

// configFile is the part of recevable's configuration the deployment
// artefacts must agree with.
type configFile struct {
	raw     map[string]any
	Storage struct {
		Backend string `yaml:"backend"`
		S3      struct {
			Endpoint string `yaml:"endpoint"`
			Bucket   string `yaml:"bucket"`
		} `yaml:"s3"`
		FS struct {
			Dir string `yaml:"dir"`
		} `yaml:"fs"`
	} `yaml:"storage"`
	IMAP struct {
		Accounts []struct {
			Host   string `yaml:"host"`
			Port   int    `yaml:"port"`
			TLS    string `yaml:"tls"`
			CAFile string `yaml:"ca_file"`
		} `yaml:"accounts"`
	} `yaml:"imap"`
	Drops []struct {
		Kind string `yaml:"kind"`
		Path string `yaml:"path"`
	} `yaml:"drops"`
	Workers struct {
		ShutdownTimeout string `yaml:"shutdown_timeout"`
	} `yaml:"workers"`
	Web struct {
		Listen string `yaml:"listen"`
	} `yaml:"web"`
	Metrics struct {
		Listen string `yaml:"listen"`
	} `yaml:"metrics"`
}

// secretRef is one {env: NAME} or {file: PATH} of a configuration.
type secretRef struct{ kind, ref string }

// parseConfigFile reads the fields above and every secret reference.
func parseConfigFile(t *testing.T, where string, data []byte) (*configFile, []secretRef) {
	t.Helper()
	var c configFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	if err := yaml.Unmarshal(data, &c.raw); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var refs []secretRef
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if len(v) == 1 {
				for _, k := range []string{"env", "file"} {
					if s, ok := v[k].(string); ok {
						refs = append(refs, secretRef{k, s})
						return
					}
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(c.raw)
	return &c, refs
}

// port returns the port of a host:port listen address.
func port(t *testing.T, addr string) string {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("%q has no port", addr)
	}
	return addr[i+1:]
}

// sprintList formats a sorted list for messages.
func sprintList(m map[string]bool) string {
	l := make([]string, 0, len(m))
	for k := range m {
		l = append(l, k)
	}
	sort.Strings(l)
	return fmt.Sprint(l)
}
