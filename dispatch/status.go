package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/warmbox/warmbox/pool"
)

// Info describes one served language, for /environments.
type Info struct {
	Language
	Version string // interpreter version found by the self-test
}

// Languages lists the served languages, sorted by name.
func (d *Dispatcher[S]) Languages() []Info {
	out := make([]Info, 0, len(d.names))
	for _, n := range d.names {
		l := d.langs[n]
		l.mu.Lock()
		out = append(out, Info{Language: l.Language, Version: l.version})
		l.mu.Unlock()
	}
	return out
}

// Limits returns a language's limits.
func (d *Dispatcher[S]) Limits(language string) (Language, bool) {
	l, ok := d.langs[language]
	if !ok {
		return Language{}, false
	}
	return l.Language, true
}

// Stats snapshots every pool, sorted by language.
func (d *Dispatcher[S]) Stats() []pool.Stats {
	out := make([]pool.Stats, 0, len(d.names))
	for _, n := range d.names {
		out = append(out, d.langs[n].pool.Stats())
	}
	return out
}

// Evict tells the pools that a sandbox died from outside.
func (d *Dispatcher[S]) Evict(id string) {
	for _, n := range d.names {
		if d.langs[n].pool.Evict(id, pool.ReasonDied) {
			return
		}
	}
}

// WaitReady blocks until every pool has reached its minimum idle count.
func (d *Dispatcher[S]) WaitReady(ctx context.Context) error {
	for _, n := range d.names {
		if err := d.langs[n].pool.WaitReady(ctx); err != nil {
			return fmt.Errorf("pool %s: %w", n, err)
		}
	}
	return nil
}

// SelfTest runs each language's version program through the normal
// request path, in parallel, and records the interpreter version. A
// language whose self-test fails is reported not ready by Health.
func (d *Dispatcher[S]) SelfTest(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(d.names))
	for i, n := range d.names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.selfTest(ctx, d.langs[n])
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// selfTestAttempts bounds the runs of a version program that timed out:
// at start every language warms up at once, and a slow toolchain on a
// busy host may miss its timeout without being broken.
const selfTestAttempts = 3

func (d *Dispatcher[S]) selfTest(ctx context.Context, l *served[S]) error {
	var msg, version string
	for attempt := 1; ; attempt++ {
		out, err := d.Execute(ctx, Request{Language: l.Name, Code: l.VersionCode, Timeout: l.Limits.Timeout})
		res := out.Result
		switch {
		case err != nil:
			msg = err.Error()
		case res.Compile != nil && !res.Compile.OK():
			msg = fmt.Sprintf("version program did not compile (exit %d, timed out %v): %s",
				res.Compile.ExitCode, res.Compile.TimedOut, strings.TrimSpace(string(res.Compile.Stderr)))
		case res.TimedOut:
			msg = fmt.Sprintf("version program timed out after %s", l.Limits.Timeout)
		case res.ExitCode != 0 || len(res.Stdout) == 0:
			msg = fmt.Sprintf("version program exited %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
		default:
			msg = ""
		}
		timedOut := err == nil && (res.TimedOut || res.Compile != nil && res.Compile.TimedOut)
		if msg == "" || !timedOut || attempt == selfTestAttempts || ctx.Err() != nil {
			version = strings.TrimSpace(string(res.Stdout))
			break
		}
		d.logger.Warn("self-test timed out; trying again", "language", l.Name, "attempt", attempt)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.selfErr = msg
	if msg != "" {
		return fmt.Errorf("self-test %s: %s", l.Name, msg)
	}
	l.version = version
	return nil
}

// Why a language is not ready, in words safe to show anyone
// (LanguageHealth.Summary): they carry no engine or runner text.
const (
	NotReadyWarmingUp       = "warming up"
	NotReadyCreationFailing = "sandbox creation failing"
	NotReadySelfTestFailed  = "self-test failed"
)

// LanguageHealth is one language's state, for /health.
type LanguageHealth struct {
	Name  string
	Ready bool
	// Summary is why the language is not ready, one of the NotReady
	// constants ("" when ready); Reason is the same with the detail (the
	// engine's or the self-test's error), for operators only.
	Summary  string
	Reason   string
	Idle     int
	Busy     int
	Target   int
	Degraded bool
}

// Health reports each language's readiness: its self-test passed, its
// pool is not failing to create, and it has reached its minimum once.
func (d *Dispatcher[S]) Health() []LanguageHealth {
	out := make([]LanguageHealth, 0, len(d.names))
	for _, n := range d.names {
		l := d.langs[n]
		st := l.pool.Stats()
		l.mu.Lock()
		version, selfErr := l.version, l.selfErr
		l.mu.Unlock()
		h := LanguageHealth{Name: n, Idle: st.Idle, Busy: st.Busy, Target: st.Target, Degraded: st.Degraded}
		switch {
		case st.Degraded:
			h.Summary, h.Reason = NotReadyCreationFailing, NotReadyCreationFailing+": "+st.LastError
		case selfErr != "":
			h.Summary, h.Reason = NotReadySelfTestFailed, NotReadySelfTestFailed+": "+selfErr
		case version == "":
			h.Summary, h.Reason = NotReadyWarmingUp, NotReadyWarmingUp
		default:
			h.Ready = true
		}
		out = append(out, h)
	}
	return out
}

// Close closes every session, then drains and closes every pool: waiters
// fail, leased sandboxes are destroyed once released, idle ones at once.
func (d *Dispatcher[S]) Close(ctx context.Context) error {
	d.closeSessions()
	var wg sync.WaitGroup
	errs := make([]error, len(d.names))
	for i, n := range d.names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.langs[n].pool.Close(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
