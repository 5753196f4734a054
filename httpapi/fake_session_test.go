package httpapi

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/warmbox/warmbox/dispatch"
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

func (f *fakeService) SessionConfig() dispatch.SessionConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sessions.cfg.Max == 0 {
		return dispatch.SessionConfig{Max: 4, MaxPerClient: 2, IdleTTL: 5 * time.Minute, MaxIdleTTL: time.Hour, MaxLifetime: time.Hour}
	}
	return f.sessions.cfg
}

func (f *fakeService) OpenSession(_ context.Context, language, owner string, ttl time.Duration) (dispatch.SessionInfo, error) {
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
		Created: now, LastUsed: now, IdleTTL: ttl, ExpiresAt: now.Add(ttl)}
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
