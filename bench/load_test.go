package bench

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestClosedLoopCounts(t *testing.T) {
	for _, c := range []struct {
		name        string
		concurrency int
		requests    int
		warmup      time.Duration
	}{
		{"one caller", 1, 15, 0},
		{"three callers", 3, 40, 0},
		{"with warm-up", 4, 25, 50 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeDaemon(t, nil)
			var coldCalls atomic.Int64
			targets := []Target{mustHTTP(t, f.URL), sleepTarget("cold", 2*time.Millisecond, &coldCalls)}
			cfg := Config{Model: Closed, Concurrency: c.concurrency, Requests: c.requests, Warmup: c.warmup,
				Timeout: 5 * time.Second, Seed: 1, Baseline: "cold"}
			rep, err := Run(context.Background(), cfg, targets, []Scenario{mustBuiltin(t, "hello", "python")})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != 2 {
				t.Fatalf("got %d results, want 2", len(rep.Results))
			}
			for _, res := range rep.Results {
				if res.Count != c.requests || res.OK != c.requests || len(res.SamplesMs) != c.requests {
					t.Errorf("%s: count %d, ok %d, samples %d; want %d each", res.Target, res.Count, res.OK, len(res.SamplesMs), c.requests)
				}
			}
			// Every call was either measured or warm-up; warm-up calls
			// exist only when there is a warm-up.
			warmCalls, cold := f.calls.Load(), coldCalls.Load()
			if c.warmup == 0 && (warmCalls != int64(c.requests) || cold != int64(c.requests)) {
				t.Errorf("calls: warm %d, cold %d; want %d each (no warm-up)", warmCalls, cold, c.requests)
			}
			if c.warmup > 0 && (warmCalls <= int64(c.requests) || cold <= int64(c.requests)) {
				t.Errorf("calls: warm %d, cold %d; want more than %d each (warm-up excluded from results)", warmCalls, cold, c.requests)
			}
			if _, ok := rep.comparison("python/hello", "warm"); !ok {
				t.Errorf("no comparison of warm against cold: %+v", rep.Comparisons)
			}
		})
	}
}

func TestClosedLoopDuration(t *testing.T) {
	f := newFakeDaemon(t, nil)
	cfg := Config{Model: Closed, Concurrency: 2, Duration: 200 * time.Millisecond, Timeout: 5 * time.Second}
	rep, err := Run(context.Background(), cfg, []Target{mustHTTP(t, f.URL)}, []Scenario{mustBuiltin(t, "cpu", "node")})
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Results[0]
	if res.Count == 0 || res.OK != res.Count || int64(res.Count) != f.calls.Load() {
		t.Errorf("count %d, ok %d, server calls %d; want all equal and > 0", res.Count, res.OK, f.calls.Load())
	}
	if res.WindowS <= 0 || res.Throughput <= 0 {
		t.Errorf("window %g s, throughput %g/s; want both > 0", res.WindowS, res.Throughput)
	}
}

// TestOpenLoopCountsFromIntendedTime injects a known stall and checks
// that every request due during it carries the wait in its latency,
// whether the wait happened in the client (at most one request in
// flight) or in the server (which serves one request at a time).
func TestOpenLoopCountsFromIntendedTime(t *testing.T) {
	const (
		stallAt = 10 // the 10th request stalls
		stall   = 300 * time.Millisecond
	)
	for _, c := range []struct {
		name        string
		maxInFlight int
		serialize   bool
	}{
		{"client blocked", 1, false},
		{"server queueing", 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stallStart, stallEnd atomic.Int64 // unix nanoseconds
			f := newFakeDaemon(t, func(f *fakeDaemon) {
				f.serialize = c.serialize
				f.before = func(n int64) {
					if n == stallAt {
						stallStart.Store(time.Now().UnixNano())
						time.Sleep(stall)
						stallEnd.Store(time.Now().UnixNano())
					}
				}
			})
			cfg := Config{Model: Open, Rate: 100, MaxInFlight: c.maxInFlight, Requests: 60, Timeout: 5 * time.Second}
			p := newPhase(cfg, []Target{mustHTTP(t, f.URL)}, mustBuiltin(t, "hello", "bash"), 0)
			if err := p.run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(p.samples) != 60 {
				t.Fatalf("got %d samples, want 60", len(p.samples))
			}
			from := time.Unix(0, stallStart.Load()).Sub(p.start)
			to := time.Unix(0, stallEnd.Load()).Sub(p.start)
			during := 0
			for _, s := range p.samples {
				if s.kind != "" {
					t.Fatalf("request failed: %s: %s", s.kind, s.detail)
				}
				if s.intended <= from || s.intended >= to {
					continue
				}
				during++
				// It could not have been answered before the stall ended.
				if want := to - s.intended; s.latency() < want {
					t.Errorf("request due at %s: latency %s, want at least %s (the stall's remaining wait)", s.intended, s.latency(), want)
				}
				if c.maxInFlight == 1 && s.sent < to {
					t.Errorf("request due at %s was sent at %s, before the stalled request ended at %s", s.intended, s.sent, to)
				}
			}
			if during == 0 {
				t.Fatal("no request was due during the stall")
			}
			res := p.results()[0]
			if res.LatencyMs.Max < ms(stall)-20 {
				t.Errorf("max latency %g ms, want about the stall (%s) or more", res.LatencyMs.Max, stall)
			}
			if res.SendLagMs == nil {
				t.Fatal("open-loop result has no send lag")
			}
			if c.maxInFlight == 1 && res.SendLagMs.Max < ms(stall)/2 {
				t.Errorf("max send lag %g ms, want most of the stall: requests were held back", res.SendLagMs.Max)
			}
		})
	}
}

func TestOpenLoopInterleavesTargets(t *testing.T) {
	var a, b atomic.Int64
	targets := []Target{sleepTarget("a", 0, &a), sleepTarget("b", 0, &b)}
	cfg := Config{Model: Open, Rate: 200, Requests: 30, Warmup: 50 * time.Millisecond, Timeout: time.Second, Seed: 7}
	p := newPhase(cfg, targets, mustBuiltin(t, "hello", "node"), 0)
	if err := p.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Each round of two slots holds one slot of each target.
	byRound := map[int64]int{}
	for _, s := range p.samples {
		r := int64(time.Duration(s.intended).Seconds()*400+0.5) / 2
		byRound[r] += s.target + 1
	}
	for r, sum := range byRound {
		if sum != 3 {
			t.Errorf("round %d: target indexes+1 sum to %d, want 3 (one slot per target)", r, sum)
		}
	}
	for _, res := range p.results() {
		if res.Count != 30 {
			t.Errorf("%s: %d measured, want 30", res.Target, res.Count)
		}
	}
	if a.Load() != b.Load() || a.Load() < 30 {
		t.Errorf("calls a=%d b=%d, want equal and >= 30", a.Load(), b.Load())
	}
}

func TestFatalAnswersStopTheRun(t *testing.T) {
	for _, c := range []struct {
		status int
		code   string
		want   error
	}{
		{http.StatusTooManyRequests, "rate_limited", ErrRateLimited},
		{http.StatusUnauthorized, "unauthorized", ErrUnauthorized},
	} {
		t.Run(c.code, func(t *testing.T) {
			f := newFakeDaemon(t, func(f *fakeDaemon) {
				f.answer = func(w http.ResponseWriter, _ Request) {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Retry-After", "6")
					w.WriteHeader(c.status)
					_, _ = w.Write([]byte(`{"error":{"code":"` + c.code + `","message":"no"}}`))
				}
			})
			cfg := Config{Model: Closed, Concurrency: 2, Duration: time.Minute, Timeout: time.Second}
			done := make(chan struct{})
			var rep *Report
			var err error
			go func() {
				defer close(done)
				rep, err = Run(context.Background(), cfg, []Target{mustHTTP(t, f.URL)}, []Scenario{mustBuiltin(t, "hello", "python")})
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("a %d did not stop the run", c.status)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Run error = %v, want %v", err, c.want)
			}
			var se *StatusError
			if !errors.As(err, &se) || se.RetryAfter != "6" || se.Code != c.code {
				t.Errorf("error %v does not carry the answer's code and Retry-After", err)
			}
			if rep == nil || !rep.Interrupted {
				t.Errorf("report = %+v, want an interrupted report", rep)
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	f := newFakeDaemon(t, func(f *fakeDaemon) {
		f.answer = func(w http.ResponseWriter, req Request) {
			switch req.Environment {
			case "python":
				w.WriteHeader(http.StatusServiceUnavailable)
			case "node":
				time.Sleep(300 * time.Millisecond)
				writeAnswer(w, rightStdout(req), 0)
			}
		}
	})
	h := mustHTTP(t, f.URL)
	dead := mustHTTP(t, "http://127.0.0.1:1")
	for _, c := range []struct {
		target Target
		lang   string
		want   string
	}{
		{h, "python", "http_503"},
		{h, "node", KindTimeout},
		{dead, "bash", KindTransport},
	} {
		t.Run(c.want, func(t *testing.T) {
			cfg := Config{Model: Closed, Concurrency: 1, Requests: 2, Timeout: 100 * time.Millisecond}
			rep, err := Run(context.Background(), cfg, []Target{c.target}, []Scenario{mustBuiltin(t, "hello", c.lang)})
			if err != nil {
				t.Fatal(err)
			}
			res := rep.Results[0]
			if res.Errors[c.want] != 2 || res.OK != 0 || res.Count != 2 {
				t.Errorf("errors %v, ok %d, count %d; want 2 %s", res.Errors, res.OK, res.Count, c.want)
			}
			if res.ErrorExamples[c.want] == "" {
				t.Errorf("no example of %s kept", c.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"closed", Config{Model: Closed, Concurrency: 1, Duration: time.Second}, true},
		{"open", Config{Model: Open, Rate: 5, Requests: 10}, true},
		{"no model", Config{Concurrency: 1, Duration: time.Second}, false},
		{"closed without callers", Config{Model: Closed, Duration: time.Second}, false},
		{"open without rate", Config{Model: Open, Duration: time.Second}, false},
		{"no length", Config{Model: Closed, Concurrency: 1}, false},
		{"negative warm-up", Config{Model: Closed, Concurrency: 1, Duration: time.Second, Warmup: -1}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.cfg.Validate(); (err == nil) != c.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, c.ok)
			}
		})
	}
}
