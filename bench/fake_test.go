package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDaemon is an httptest stand-in for POST /execute. It answers every
// built-in program right unless answer overrides it.
type fakeDaemon struct {
	*httptest.Server
	calls  atomic.Int64
	serial sync.Mutex // held per request when serialize is set

	serialize bool
	// before runs at the start of each request with its 1-based number.
	before func(n int64)
	// answer, if set, writes the whole answer.
	answer func(w http.ResponseWriter, req Request)
}

func newFakeDaemon(t *testing.T, configure func(*fakeDaemon)) *fakeDaemon {
	t.Helper()
	f := &fakeDaemon{}
	if configure != nil {
		configure(f)
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeDaemon) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/readyz" {
		w.WriteHeader(http.StatusOK)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/execute" || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var req Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if f.serialize {
		f.serial.Lock()
		defer f.serial.Unlock()
	}
	n := f.calls.Add(1)
	start := time.Now()
	if f.before != nil {
		f.before(n)
	}
	if f.answer != nil {
		f.answer(w, req)
		return
	}
	writeAnswer(w, rightStdout(req), time.Since(start))
}

// rightStdout finds the built-in program a request carries and returns
// its expected stdout.
func rightStdout(req Request) string {
	for _, byLang := range programs {
		if p, ok := byLang[req.Environment]; ok && p.code == req.Code {
			return p.want
		}
	}
	return ""
}

func writeAnswer(w http.ResponseWriter, stdout string, took time.Duration) {
	exit := 0
	took = max(took, time.Microsecond)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Response{
		ExecutionID: "x", Status: "success", Stdout: stdout, ExitCode: &exit,
		Timing: &Timing{QueueMs: 0.01, AcquireMs: 0.1, RunMs: ms(took), TotalMs: ms(took) + 0.2},
	})
}

// sleepTarget is a baseline that answers hello right after d, without
// server timing.
func sleepTarget(name string, d time.Duration, calls *atomic.Int64) *Func {
	return NewFunc(name, "sleeps "+d.String(), func(ctx context.Context, req Request) (Response, error) {
		if calls != nil {
			calls.Add(1)
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return Response{}, ctx.Err()
		}
		exit := 0
		return Response{Status: "success", Stdout: rightStdout(req), ExitCode: &exit}, nil
	})
}

func mustHTTP(t *testing.T, url string) *HTTP {
	t.Helper()
	h, err := NewHTTP("warm", url, "", 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func mustBuiltin(t *testing.T, kind, lang string) Scenario {
	t.Helper()
	s, err := Builtin(kind, lang)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
