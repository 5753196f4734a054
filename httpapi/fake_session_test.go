package httpapi

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/runner/wire"
)

// fakeSessions is the fake service's session registry: the dispatcher's
// rules in brief (caps per owner and in all, one run at a time), with
// runs answered by the fake's run function plus a value.
type fakeSessions struct {
	open map[string]*dispatch.SessionInfo
	n    int
	busy map[string]bool
	cfg  dispatch.SessionConfig
}

// SessionConfig is cfg, or small caps when cfg is unset; a cfg with Max
// 0 turns sessions off, as sessions.max: 0 does.
func (f *fakeService) SessionConfig() dispatch.SessionConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sessions.cfg == (dispatch.SessionConfig{}) {
		return dispatch.SessionConfig{Max: 4, MaxPerClient: 2, IdleTTL: 5 * time.Minute, MaxIdleTTL: time.Hour, MaxLifetime: time.Hour}
	}
	return f.sessions.cfg
}

func (f *fakeService) OpenSession(_ context.Context, language, owner string, ttl, runTimeout time.Duration) (dispatch.SessionInfo, error) {
	cfg := f.SessionConfig()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sessions.open == nil {
		f.sessions.open, f.sessions.busy = map[string]*dispatch.SessionInfo{}, map[string]bool{}
	}
	mine := 0
	for _, s := range f.sessions.open {
		if s.Owner == owner {
			mine++
		}
	}
	switch {
	case cfg.Max <= 0:
		return dispatch.SessionInfo{}, dispatch.ErrSessionsOff
	case mine >= cfg.MaxPerClient:
		return dispatch.SessionInfo{}, dispatch.ErrSessionsPerClient
	case len(f.sessions.open) >= cfg.Max:
		return dispatch.SessionInfo{}, dispatch.ErrSessionsFull
	}
	if ttl == 0 {
		ttl = cfg.IdleTTL
	}
	f.sessions.n++
	now := time.Now()
	info := &dispatch.SessionInfo{ID: fmt.Sprintf("s-test-%d", f.sessions.n), Language: language, Owner: owner,
		Created: now, LastUsed: now, IdleTTL: ttl, ExpiresAt: now.Add(ttl), RunTimeout: runTimeout}
	f.sessions.open[info.ID] = info
	return *info, nil
}

func (f *fakeService) RunInSession(ctx context.Context, id string, req dispatch.Request) (dispatch.Outcome, error) {
	f.mu.Lock()
	info, ok := f.sessions.open[id]
	if !ok {
		f.mu.Unlock()
		return dispatch.Outcome{}, dispatch.ErrNoSession
	}
	if f.sessions.busy[id] {
		f.mu.Unlock()
		return dispatch.Outcome{}, dispatch.ErrSessionBusy
	}
	f.sessions.busy[id] = true
	f.mu.Unlock()
	out, err := f.Execute(ctx, req)
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sessions.busy, id)
	info.Runs++
	if out.Result.SessionEnded {
		delete(f.sessions.open, id)
	}
	return out, err
}

func (f *fakeService) CloseSession(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sessions.open[id]; !ok {
		return dispatch.ErrNoSession
	}
	delete(f.sessions.open, id)
	return nil
}

func (f *fakeService) Session(id string) (dispatch.SessionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	info, ok := f.sessions.open[id]
	if !ok {
		return dispatch.SessionInfo{}, dispatch.ErrNoSession
	}
	return *info, nil
}

func (f *fakeService) Sessions(owner string) []dispatch.SessionInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []dispatch.SessionInfo
	for _, s := range f.sessions.open {
		if owner == "" || s.Owner == owner {
			out = append(out, *s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// realistic makes svc answer as the daemon does with its default
// configuration: sessions capped as by default (16 open, 4 per client),
// and runs that look like an interpreter's. A run's output goes to
// OnOutput as the runner streams it; a run whose code divides by zero
// raises ZeroDivisionError; any other has the value 42 (a session's run
// answers it; /execute leaves it out). So every documented shape of a
// run, value, exception, event and line is answered.
func realistic(svc *fakeService) {
	svc.sessions.cfg = dispatch.SessionConfig{Max: 16, MaxPerClient: 4, IdleTTL: 5 * time.Minute, MaxIdleTTL: time.Hour, MaxLifetime: time.Hour}
	run := svc.run
	svc.run = func(ctx context.Context, req dispatch.Request) (dispatch.Outcome, error) {
		out, err := run(ctx, req)
		if err != nil {
			return out, err
		}
		if req.OnOutput != nil {
			for stream, data := range map[string][]byte{wire.StreamStdout: out.Result.Stdout, wire.StreamStderr: out.Result.Stderr} {
				if len(data) > 0 {
					req.OnOutput(stream, data)
				}
			}
		}
		if strings.Contains(req.Code, "1/0") {
			out.Result.ExitCode = 1
			out.Result.Exception = &wire.Exception{Name: "ZeroDivisionError", Value: "division by zero",
				Traceback: "Traceback (most recent call last):\n  File \"<cell 1>\", line 1, in <module>\nZeroDivisionError: division by zero\n"}
			return out, nil
		}
		value := "42"
		out.Result.Value = &value
		return out, nil
	}
}
