package telemetry

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The shipped configs, relative to this package.
const (
	dashboardPath   = "../deploy/grafana/dashboards/warmbox.json"
	datasourcesPath = "../deploy/grafana/provisioning/datasources/warmbox.yml"
	alertsPath      = "../deploy/prometheus/alerts.yml"
)

var warmboxMetric = regexp.MustCompile(`\bwarmbox_[a-zA-Z0-9_:]+`)

type dashPanel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Datasource  *dashDS        `json:"datasource"`
	Targets     []dashTarget   `json:"targets"`
	Panels      []dashPanel    `json:"panels"` // a collapsed row's panels
	GridPos     map[string]int `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Links []struct {
				URL string `json:"url"`
			} `json:"links"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type dashDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashTarget struct {
	Expr       string  `json:"expr"`
	RefID      string  `json:"refId"`
	Exemplar   bool    `json:"exemplar"`
	Datasource *dashDS `json:"datasource"`
}

type dashboard struct {
	UID        string      `json:"uid"`
	Title      string      `json:"title"`
	Panels     []dashPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

// grafanaVars stand in for Grafana's variables when an expression is
// checked by promtool.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "1m", "$__interval", "1m", "$__range", "1h",
	`"$language"`, `"python"`, `"$job"`, `".*"`,
)

// exprUse is one PromQL expression and where the dashboard uses it.
type exprUse struct{ where, expr string }

func loadDashboard(t *testing.T) (dashboard, []dashPanel, []exprUse) {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var panels []dashPanel
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			panels = append(panels, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	var exprs []exprUse
	for _, p := range panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, exprUse{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			exprs = append(exprs, exprUse{"variable " + v.Name, v.Definition})
		}
	}
	return d, panels, exprs
}

// TestDashboardQueriesUseExportedMetrics fails when a panel names a metric
// the daemon does not export: the names come from a real registry after
// every recording method has run.
func TestDashboardQueriesUseExportedMetrics(t *testing.T) {
	m := NewMetrics("dev", fakeStats)
	exercise(t, m)
	exported := exportedSeries(t, m)
	_, _, exprs := loadDashboard(t)
	if len(exprs) == 0 {
		t.Fatal("dashboard has no queries")
	}
	used := map[string]bool{}
	for _, e := range exprs {
		names := warmboxMetric.FindAllString(e.expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: query %q uses no warmbox metric", e.where, e.expr)
		}
		for _, n := range names {
			used[n] = true
			if _, ok := exported[n]; !ok {
				t.Errorf("%s: metric %s is not exported by the daemon (query %q)", e.where, n, e.expr)
			}
		}
	}
	// The dashboard shows what the issue asks for.
	for _, want := range []string{
		"warmbox_pool_sandboxes", "warmbox_pool_idle_target", "warmbox_execution_duration_seconds_bucket",
		"warmbox_executions_total", "warmbox_pool_sandboxes_destroyed_total", "warmbox_requests_rejected_total",
		"warmbox_acquire_wait_seconds_bucket", "warmbox_handoff_duration_seconds_bucket",
		"warmbox_sandbox_create_duration_seconds_bucket", "warmbox_engine_errors_total",
	} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
}

// TestDashboardQueriesParse checks every query as PromQL with promtool.
func TestDashboardQueriesParse(t *testing.T) {
	_, _, exprs := loadDashboard(t)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		expr := grafanaVars.Replace(e.expr)
		if strings.HasPrefix(expr, "label_values(") { // Grafana's own function
			inner := strings.TrimSuffix(strings.TrimPrefix(expr, "label_values("), ")")
			expr = inner[:strings.LastIndex(inner, ",")]
		}
		if strings.Contains(expr, "$") {
			t.Errorf("%s: unknown Grafana variable left in %q", e.where, expr)
		}
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: expr})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := promtool(t, "", "check", "rules", path); err != nil {
		t.Fatalf("dashboard queries do not parse as PromQL: %v\n%s", err, out)
	}
}

func TestDashboardStructure(t *testing.T) {
	d, panels, _ := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard needs a uid and a title, got %q %q", d.UID, d.Title)
	}
	ids := map[int]string{}
	var heatmap, exemplar, jaegerLink bool
	for _, p := range panels {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		for _, k := range []string{"x", "y", "w", "h"} {
			if _, ok := p.GridPos[k]; !ok {
				t.Errorf("panel %q: gridPos lacks %s", p.Title, k)
			}
		}
		switch p.Type {
		case "row", "text":
			continue
		case "heatmap":
			heatmap = true
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q (%s) has no query", p.Title, p.Type)
		}
		for _, tg := range p.Targets {
			exemplar = exemplar || tg.Exemplar
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q target %s: datasource must be ${datasource}, got %+v", p.Title, tg.RefID, tg.Datasource)
			}
		}
		for _, l := range p.FieldConfig.Defaults.Links {
			jaegerLink = jaegerLink || strings.HasPrefix(l.URL, "${jaeger_url}/search?service=warmbox")
		}
	}
	if !heatmap || !exemplar || !jaegerLink {
		t.Errorf("want a heatmap (%v), exemplars on a latency query (%v) and a data link into Jaeger (%v)",
			heatmap, exemplar, jaegerLink)
	}
}

type exemplarDest struct {
	Name          string `yaml:"name"`
	DatasourceUID string `yaml:"datasourceUid"`
}

type derivedField struct {
	Name          string `yaml:"name"`
	MatcherType   string `yaml:"matcherType"`
	MatcherRegex  string `yaml:"matcherRegex"`
	URL           string `yaml:"url"`
	DatasourceUID string `yaml:"datasourceUid"`
}

// TestGrafanaDatasources checks that exemplars and log records lead to
// the Jaeger datasource. That VictoriaLogs stores the shipped records'
// trace id in the field trace_id is test/telemetry's TestTelemetry (it
// queries trace_id:=ID); that field name is what the derived field
// matches.
func TestGrafanaDatasources(t *testing.T) {
	raw, err := os.ReadFile(datasourcesPath)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Datasources []struct {
			UID      string `yaml:"uid"`
			Type     string `yaml:"type"`
			URL      string `yaml:"url"`
			JSONData struct {
				Exemplars     []exemplarDest `yaml:"exemplarTraceIdDestinations"`
				DerivedFields []derivedField `yaml:"derivedFields"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", datasourcesPath, err)
	}
	types := map[string]string{}
	for _, ds := range f.Datasources {
		types[ds.UID] = ds.Type
	}
	if types["prometheus"] != "prometheus" || types["jaeger"] != "jaeger" || types["victorialogs"] != "victoriametrics-logs-datasource" {
		t.Fatalf("want datasources prometheus, jaeger and victorialogs, got %v", types)
	}
	for _, ds := range f.Datasources {
		switch ds.UID {
		case "prometheus":
			if !slices.ContainsFunc(ds.JSONData.Exemplars, func(e exemplarDest) bool {
				return e.Name == "trace_id" && e.DatasourceUID == "jaeger"
			}) {
				t.Errorf("prometheus datasource: exemplar trace_id must lead to the jaeger datasource, got %+v", ds.JSONData.Exemplars)
			}
		case "victorialogs":
			// Grafana's provisioning turns $$ into $: the link hands the
			// field's raw value (the trace id) to the Jaeger datasource.
			if !slices.ContainsFunc(ds.JSONData.DerivedFields, func(d derivedField) bool {
				return d.MatcherType == "label" && d.MatcherRegex == "trace_id" &&
					d.URL == "$${__value.raw}" && d.DatasourceUID == "jaeger"
			}) {
				t.Errorf("victorialogs datasource: the field trace_id must link to the jaeger datasource, got %+v", ds.JSONData.DerivedFields)
			}
		}
	}
}

// TestAlertRulesUseExportedMetrics catches alert rules that drift from the
// metric names (promtool test rules cannot: its series are made up).
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	m := NewMetrics("dev", fakeStats)
	exercise(t, m)
	exported := exportedSeries(t, m)
	raw, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", alertsPath, err)
	}
	n := 0
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			n++
			for _, name := range warmboxMetric.FindAllString(r.Expr, -1) {
				if _, ok := exported[name]; !ok {
					t.Errorf("alert %s: metric %s is not exported by the daemon", r.Alert, name)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert rules found")
	}
}
