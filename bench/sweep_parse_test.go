package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRates(t *testing.T) {
	for _, c := range []struct {
		spec    string
		want    []float64
		wantErr string // a part of the error; "" for none
	}{
		{"1,5,20,50,100", []float64{1, 5, 20, 50, 100}, ""},
		{" 2.5 , 10/s,", []float64{2.5, 10}, ""},
		{"100,20", []float64{100, 20}, ""}, // the order given is kept
		{"", nil, "no rate given"},
		{" , ", nil, "no rate given"},
		{"0", nil, "must be > 0"},
		{"5,-1", nil, "got -1"},
		{"20000", nil, "<= 10000"},
		{"NaN", nil, "got NaN"},
		{"Inf", nil, "got +Inf"},
		{"5,abc", nil, `"abc" is not a number`},
		{"5,5", nil, "rate 5 is given twice"},
	} {
		t.Run(c.spec, func(t *testing.T) {
			got, err := ParseRates(c.spec)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("ParseRates(%q) = %v, %v; want an error with %q", c.spec, got, err, c.wantErr)
				}
				if got != nil {
					t.Errorf("ParseRates(%q) returned %v with its error", c.spec, got)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Errorf("ParseRates(%q) = %v, %v; want %v", c.spec, got, err, c.want)
			}
		})
	}
}

func TestParseDaemons(t *testing.T) {
	for _, c := range []struct {
		name, spec string
		want       []Daemon
		wantErr    string
	}{
		{"empty is the default", "", []Daemon{{"warm", DefaultURL}}, ""},
		{"plain URL is warm", "http://127.0.0.1:9000", []Daemon{{"warm", "http://127.0.0.1:9000"}}, ""},
		{"named list", "default=http://127.0.0.1:8000, single=http://localhost:8001/",
			[]Daemon{{"default", "http://127.0.0.1:8000"}, {"single", "http://localhost:8001/"}}, ""},
		{"bare and named", "http://[::1]:1,gvisor.v2=https://127.0.0.2:2",
			[]Daemon{{"warm", "http://[::1]:1"}, {"gvisor.v2", "https://127.0.0.2:2"}}, ""},
		{"not loopback", "http://10.0.0.1:8000", nil, "not a loopback address"},
		{"second not loopback", "a=http://127.0.0.1:1,b=http://example.com:80", nil, "target b: url http://example.com:80"},
		{"bad scheme", "a=ftp://127.0.0.1:21", nil, "scheme must be http or https"},
		{"no host", "a=http://:80", nil, "no host"},
		{"no URL after =", "a=", nil, "scheme must be http or https"},
		{"no name", "=http://127.0.0.1:1", nil, "empty name"},
		{"bad name", "my daemon=http://127.0.0.1:1", nil, "use letters, digits"},
		{"name cold", "cold=http://127.0.0.1:1", nil, "cold baseline"},
		{"no scheme, no name", "127.0.0.1:8000", nil, "want NAME=URL"},
		{"same name twice", "a=http://127.0.0.1:1,a=http://127.0.0.1:2", nil, "two targets are named a"},
		{"two bare URLs", "http://127.0.0.1:1,http://127.0.0.1:2", nil, "name each URL with NAME=URL"},
		{"only commas", ",,", nil, "no URL given"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseDaemons(c.spec)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("ParseDaemons(%q) = %v, %v; want an error with %q", c.spec, got, err, c.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Errorf("ParseDaemons(%q) = %v, %v; want %v", c.spec, got, err, c.want)
			}
			for _, d := range got {
				if _, err := NewHTTP(d.Name, d.URL, "", 1); err != nil {
					t.Errorf("NewHTTP refuses %v that ParseDaemons accepted: %v", d, err)
				}
			}
		})
	}
}

func TestSweepConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"open sweep", Config{Model: Open, Rates: []float64{1, 2}, Duration: time.Second}, ""},
		{"closed sweep", Config{Model: Closed, Concurrency: 1, Rates: []float64{1}, Duration: time.Second}, "cannot be combined with model \"closed\""},
		{"rate twice", Config{Model: Open, Rates: []float64{3, 3}, Duration: time.Second}, "given twice"},
		{"zero rate", Config{Model: Open, Rates: []float64{0}, Duration: time.Second}, "must be > 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if (err == nil) != (c.wantErr == "") || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
				t.Errorf("Validate() = %v, want an error with %q", err, c.wantErr)
			}
		})
	}
}

// FuzzParseDaemons checks that whatever --url says, every target it
// yields is a valid name on a loopback host.
func FuzzParseDaemons(f *testing.F) {
	for _, s := range []string{"", "http://127.0.0.1:8000", "a=http://localhost:1,b=https://[::1]:2/x",
		"a=http://127.0.0.1.example.com", "a=http://0x7f000001", "http://127.0.0.1@10.0.0.1", "a=b=http://127.0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ds, err := ParseDaemons(spec)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, d := range ds {
			if err := checkTargetName(d.Name); err != nil && d.Name != DaemonName {
				t.Errorf("ParseDaemons(%q) accepted name %q: %v", spec, d.Name, err)
			}
			if seen[d.Name] {
				t.Errorf("ParseDaemons(%q) named two targets %q", spec, d.Name)
			}
			seen[d.Name] = true
			u, err := daemonURL(d.URL)
			if err != nil || checkLoopback(u.Hostname()) != nil {
				t.Errorf("ParseDaemons(%q) accepted %q, not a loopback URL", spec, d.URL)
			}
		}
	})
}

// FuzzParseRates checks that every rate ParseRates accepts is one a
// sweep can run.
func FuzzParseRates(f *testing.F) {
	for _, s := range []string{"1,5,20,50,100", "0.5/s", "1e3", "NaN", "-0", "1,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		rates, err := ParseRates(spec)
		if err != nil {
			return
		}
		cfg := Config{Model: Open, Rates: rates, Duration: time.Second}
		if len(rates) == 0 || cfg.Validate() != nil {
			t.Errorf("ParseRates(%q) = %v, which does not validate: %v", spec, rates, cfg.Validate())
		}
	})
}
