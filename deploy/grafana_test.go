package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

const dashboardFile = "grafana/recevable.json"

// dashboard is the part of Grafana's dashboard model the checks read;
// decoding ignores the rest (options, field configs…).
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

// allPanels lists the panels, those of collapsed rows included.
func (d *dashboard) allPanels() []panel {
	var all []panel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	return all
}

// grafanaBuiltins are the variables Grafana defines itself, with a value
// that makes the expression parse.
var grafanaBuiltins = map[string]string{
	"__rate_interval": "5m",
	"__interval":      "1m",
	"__range":         "1h",
}

var reGrafanaVar = regexp.MustCompile(`\$\{?(\w+)\}?`)

// loadDashboard decodes the dashboard and returns it with the value each
// of its variables takes for parsing: ".*" for the dashboard's own
// (multi-value variables become regular expressions in =~ matchers).
func loadDashboard(t *testing.T) (*dashboard, map[string]string) {
	t.Helper()
	raw := read(t, dashboardFile)
	if !json.Valid(raw) {
		t.Fatalf("%s is not valid JSON", dashboardFile)
	}
	var d dashboard
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	vars := map[string]string{}
	for k, v := range grafanaBuiltins {
		vars[k] = v
	}
	for _, v := range d.Templating.List {
		vars[v.Name] = ".*"
	}
	return &d, vars
}

// expand replaces the variables of a query by their values; unknown lists
// those that are not variables of the dashboard.
func expand(expr string, vars map[string]string) (out string, unknown []string) {
	out = reGrafanaVar.ReplaceAllStringFunc(expr, func(s string) string {
		name := reGrafanaVar.FindStringSubmatch(s)[1]
		v, ok := vars[name]
		if !ok {
			unknown = append(unknown, name)
		}
		return v
	})
	return out, unknown
}

// TestDashboard checks the Grafana dashboard: valid JSON, unique panel ids,
// panels inside the 24-column grid without overlap, and every query parsing
// as PromQL once the variables are replaced, on catalogued metrics only.
func TestDashboard(t *testing.T) {
	c := loadCatalogue(t)
	d, vars := loadDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("%s: uid %q, title %q, schemaVersion %d: all are needed for an import", dashboardFile, d.UID, d.Title, d.SchemaVersion)
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			if s, ok := q["query"].(string); ok && strings.HasPrefix(s, "label_values(") {
				// label_values(metric, label): both must be catalogued.
				args := strings.Split(strings.TrimSuffix(strings.TrimPrefix(s, "label_values("), ")"), ",")
				if len(args) != 2 {
					t.Errorf("variable %s: %q", v.Name, s)
					continue
				}
				m, label := strings.TrimSpace(args[0]), strings.TrimSpace(args[1])
				c.checkExpr(t, "variable "+v.Name, m)
				if cm, ok := c.series[m]; ok {
					if _, ok := cm.labels[label]; !ok {
						t.Errorf("variable %s: %s has no label %s in metrics.txt", v.Name, m, label)
					}
				}
			}
		}
	}

	all := d.allPanels()
	ids := map[int]string{}
	queries := 0
	for i, p := range all {
		where := fmt.Sprintf("%s: panel %d %q", dashboardFile, p.ID, p.Title)
		if other, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("%s: id %d is also that of %q (or zero)", where, p.ID, other)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v is outside the 24-column grid", where, g)
		}
		for _, q := range all[:i] {
			h := q.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("%s: overlaps panel %d %q", where, q.ID, q.Title)
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Title == "" {
			t.Errorf("%s: no title", where)
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" {
			t.Errorf("%s: data source is not the Prometheus variable", where)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		for _, tg := range p.Targets {
			queries++
			expr, unknown := expand(tg.Expr, vars)
			for _, name := range unknown {
				t.Errorf("%s: query %s uses $%s, which is no variable of the dashboard", where, tg.RefID, name)
			}
			c.checkExpr(t, where+" query "+tg.RefID, expr)
		}
	}
	if queries == 0 {
		t.Fatalf("%s has no query", dashboardFile)
	}
}

// TestCatalogueCovered checks the other direction: every metric of the
// catalogue is shown by a panel or watched by an alert, so that a metric
// the code exports for operators does not go unseen.
func TestCatalogueCovered(t *testing.T) {
	c := loadCatalogue(t)
	used := map[string]bool{}
	d, vars := loadDashboard(t)
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			expr, _ := expand(tg.Expr, vars)
			names, _ := c.check(expr)
			for _, n := range names {
				used[n] = true
			}
		}
	}
	for _, r := range loadRules(t) {
		names, _ := c.check(r.Expr)
		for _, n := range names {
			used[n] = true
		}
	}
	for name := range c.metrics {
		if !used[name] {
			t.Errorf("metrics.txt: %s is used by no panel of %s and no alert of %s", name, dashboardFile, alertsFile)
		}
	}
}
