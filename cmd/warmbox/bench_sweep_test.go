package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/warmbox/warmbox/bench"
)

func TestSweepFlags(t *testing.T) {
	for _, c := range []struct {
		name      string
		f         benchFlags
		want      []float64
		model     string
		scenarios string
		wantErr   string
	}{
		{"no sweep", benchFlags{model: "closed", scenarios: "hello,mix"}, nil, "closed", "hello,mix", ""},
		{"sweep implies open and hello", benchFlags{rates: "1,5", model: "closed", scenarios: "hello,mix", set: set("rates")},
			[]float64{1, 5}, "open", "hello", ""},
		{"explicit open", benchFlags{rates: "2", model: "open", set: set("rates", "model")}, []float64{2}, "open", "hello", ""},
		{"explicit closed", benchFlags{rates: "2", model: "closed", set: set("rates", "model")}, nil, "", "", "cannot be combined with --model closed"},
		{"with --rate", benchFlags{rates: "2", set: set("rates", "rate")}, nil, "", "", "--rate and --rates"},
		{"bad rate", benchFlags{rates: "2,x", set: set("rates")}, nil, "", "", `--rates: "x" is not a number`},
		{"empty", benchFlags{rates: "", set: set("rates")}, nil, "", "", "--rates: no rate given"},
		{"mix", benchFlags{rates: "2", scenarios: "hello,mix", set: set("rates", "scenario")}, nil, "", "", "the mix draws several languages"},
		{"all without the mix", benchFlags{rates: "2", scenarios: "all", set: set("rates", "scenario")},
			[]float64{2}, "open", strings.Join(bench.Kinds, ","), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			if f.set == nil {
				f.set = map[string]bool{}
			}
			got, err := sweepFlags(&f)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("sweepFlags = %v, %v; want an error with %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) || f.model != c.model || f.scenarios != c.scenarios {
				t.Errorf("sweepFlags = %v, %v, model %q, scenarios %q; want %v, model %q, scenarios %q",
					got, err, f.model, f.scenarios, c.want, c.model, c.scenarios)
			}
		})
	}
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

func TestBenchTargets(t *testing.T) {
	one := []bench.Daemon{{Name: "warm", URL: bench.DefaultURL}}
	two := []bench.Daemon{{Name: "default", URL: "http://127.0.0.1:8000"}, {Name: "single", URL: "http://127.0.0.1:8001"}}
	mixed := []bench.Daemon{{Name: "warm", URL: "http://127.0.0.1:8000"}, {Name: "single", URL: "http://127.0.0.1:8001"}}
	for _, c := range []struct {
		name    string
		spec    string
		daemons []bench.Daemon
		sweep   bool
		given   bool // --targets was given
		want    []string
		wantErr string
	}{
		{"default", "warm,cold", one, false, true, []string{"warm", "cold"}, ""},
		{"order kept", "cold,warm", one, false, true, []string{"cold", "warm"}, ""},
		{"warm is every daemon", "warm,cold", two, false, true, []string{"default", "single", "cold"}, ""},
		{"warm is every daemon, one named warm", "warm", mixed, false, true, []string{"warm", "single"}, ""},
		{"one daemon by name", "single", two, false, true, []string{"single"}, ""},
		{"no duplicates", "single,warm", two, false, true, []string{"single", "default"}, ""},
		{"sweep leaves cold out", "warm,cold", two, true, true, []string{"default", "single"}, ""},
		{"sweep of cold alone", "cold", two, true, true, nil, "a --rates sweep needs a daemon"},
		{"unknown", "warm,hot", two, false, true, nil, `unknown target "hot" (warm, cold, exec, default, single)`},
		{"none", " , ", one, false, true, nil, "name at least one target"},
		{"sweep default: exec in place of cold", "warm,cold", one, true, false, []string{"warm", "exec"}, ""},
		{"exec in a run", "warm,cold,exec", one, false, true, []string{"warm", "cold", "exec"}, ""},
		{"sweep of exec alone", "exec", one, true, true, nil, "a --rates sweep needs a daemon"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := benchTargets(c.spec, c.daemons, c.sweep, c.given)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("benchTargets = %v, %v; want an error with %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Errorf("benchTargets(%q) = %v, %v; want %v", c.spec, got, err, c.want)
			}
		})
	}
}
