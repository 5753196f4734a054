package dispatch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/runner/wire"
)

// sessionDispatcher serves a pre-started python whose hand-offs go to rt,
// with the session bounds cfg.
func sessionDispatcher(t *testing.T, rt *fakeRuntime, cfg SessionConfig) *Dispatcher[*fakeSandbox] {
	t.Helper()
	pc := smallPool()
	pc.MaxSize = 4
	lang := Language{Name: "python", Handoff: "prestart", Bootstrap: "python", Command: []string{"python3"}, File: "main.py",
		Limits: policy.DefaultLimits(), Pool: pc, VersionCode: "v"}
	d, err := New([]Language{lang}, map[string]Runtime[*fakeSandbox]{"python": rt}, Options{NotStarted: errNotStarted})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if err := d.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.ConfigureSessions(cfg)
	return d
}

func sessionBounds() SessionConfig {
	return SessionConfig{Max: 3, MaxPerClient: 2, IdleTTL: time.Minute, MaxIdleTTL: time.Hour, MaxLifetime: time.Hour}
}

// cellRuntime answers cells with the sandbox's id and the cell count, so
// that a test sees which sandbox ran a cell and how many it ran.
func cellRuntime() *fakeRuntime {
	var mu sync.Mutex
	count := map[string]int{}
	return &fakeRuntime{handoff: func(_ context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
		if !job.Cell {
			return wire.Result{Stage: wire.Stage{Stdout: []byte("plain job")}}, nil
		}
		mu.Lock()
		count[s.id]++
		n := count[s.id]
		mu.Unlock()
		v := s.id + ":" + string(rune('0'+n))
		return wire.Result{Value: &v}, nil
	}}
}

func cellRequest(code string) Request {
	return Request{Language: "python", Code: code, Timeout: time.Second}
}

func TestSessionCellsShareOneSandbox(t *testing.T) {
	d := sessionDispatcher(t, cellRuntime(), sessionBounds())
	ctx := context.Background()
	a, err := d.OpenSession(ctx, "python", "client-a", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.IdleTTL != time.Minute || a.Owner != "client-a" || a.ExpiresAt.Sub(a.LastUsed) != time.Minute {
		t.Errorf("opened %+v, want the default idle TTL and the owner", a)
	}
	b, err := d.OpenSession(ctx, "python", "client-b", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, id := range []string{a.ID, a.ID, b.ID} {
		out, err := d.RunInSession(ctx, id, cellRequest("x"))
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, *out.Result.Value)
	}
	// The open ran cell 1 (the empty warm-up) in each sandbox.
	if values[0][:len(values[0])-1] != values[1][:len(values[1])-1] || values[0] == values[2] ||
		values[0][len(values[0])-1] != '2' || values[1][len(values[1])-1] != '3' {
		t.Errorf("cells answered %q: want a's two cells in one sandbox (cells 2 and 3), b's in another", values)
	}
	if got := d.Sessions("client-a"); len(got) != 1 || got[0].ID != a.ID || got[0].Runs != 2 {
		t.Errorf("client-a's sessions: %+v", got)
	}
	if got := d.Sessions(""); len(got) != 2 {
		t.Errorf("all sessions: %d, want 2", len(got))
	}
	if err := d.CloseSession(a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunInSession(ctx, a.ID, cellRequest("x")); !errors.Is(err, ErrNoSession) {
		t.Errorf("a cell in a closed session: %v, want ErrNoSession", err)
	}
	if err := d.CloseSession(a.ID); !errors.Is(err, ErrNoSession) {
		t.Errorf("closing twice: %v, want ErrNoSession", err)
	}
}

func TestSessionCaps(t *testing.T) {
	d := sessionDispatcher(t, cellRuntime(), sessionBounds())
	ctx := context.Background()
	for range 2 {
		if _, err := d.OpenSession(ctx, "python", "greedy", 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.OpenSession(ctx, "python", "greedy", 0, 0); !errors.Is(err, ErrSessionsPerClient) {
		t.Fatalf("a third session for one client: %v, want ErrSessionsPerClient", err)
	}
	if _, err := d.OpenSession(ctx, "python", "other", 0, 0); err != nil {
		t.Fatalf("another client's first session: %v", err)
	}
	if _, err := d.OpenSession(ctx, "python", "third", 0, 0); !errors.Is(err, ErrSessionsFull) {
		t.Fatalf("a session past the global cap: %v, want ErrSessionsFull", err)
	}
	// A closed session frees its slot.
	list := d.Sessions("greedy")
	if err := d.CloseSession(list[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.OpenSession(ctx, "python", "third", 0, 0); err != nil {
		t.Fatalf("a session after one closed: %v", err)
	}
}

func TestSessionsOff(t *testing.T) {
	cfg := sessionBounds()
	cfg.Max = 0
	d := sessionDispatcher(t, cellRuntime(), cfg)
	if _, err := d.OpenSession(context.Background(), "python", "c", 0, 0); !errors.Is(err, ErrSessionsOff) {
		t.Fatalf("sessions.max 0: %v, want ErrSessionsOff", err)
	}
	plain := newDispatcher(t, cellRuntime(), smallPool()) // handoff exec: no session interpreter
	plain.ConfigureSessions(sessionBounds())
	if _, err := plain.OpenSession(context.Background(), "python", "c", 0, 0); !errors.Is(err, ErrSessionsOff) {
		t.Fatalf("an exec-handoff language: %v, want ErrSessionsOff", err)
	}
	if _, err := d.OpenSession(context.Background(), "ruby", "c", 0, 0); !errors.Is(err, ErrUnknownLanguage) {
		t.Fatalf("an unknown language: %v, want ErrUnknownLanguage", err)
	}
	// Pre-started but with no bootstrap (ruby, a compiled language): no
	// session interpreter, refused before a sandbox is leased.
	on := sessionDispatcher(t, cellRuntime(), sessionBounds())
	on.langs["python"].Bootstrap = ""
	if _, err := on.OpenSession(context.Background(), "python", "c", 0, 0); !errors.Is(err, ErrSessionsOff) || !strings.Contains(err.Error(), "no session interpreter") {
		t.Fatalf("a language without a bootstrap: %v, want ErrSessionsOff", err)
	}
}

func TestSessionExpires(t *testing.T) {
	rt := cellRuntime()
	d := sessionDispatcher(t, rt, sessionBounds())
	ctx := context.Background()
	s, err := d.OpenSession(ctx, "python", "c", 50*time.Millisecond, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Used before it expires, it lives on.
	time.Sleep(30 * time.Millisecond)
	if _, err := d.RunInSession(ctx, s.ID, cellRequest("x")); err != nil {
		t.Fatalf("a cell before the TTL: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := d.Session(s.ID); errors.Is(err, ErrNoSession) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an idle session was not closed after its TTL")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := d.RunInSession(ctx, s.ID, cellRequest("x")); !errors.Is(err, ErrNoSession) {
		t.Errorf("a cell after expiry: %v, want ErrNoSession", err)
	}
	// Its slot is free again.
	for range 2 {
		if _, err := d.OpenSession(ctx, "python", "c", 0, 0); err != nil {
			t.Fatalf("opening after the expiry: %v", err)
		}
	}
}

func TestSessionMaxLifetime(t *testing.T) {
	cfg := sessionBounds()
	cfg.MaxLifetime = 60 * time.Millisecond
	d := sessionDispatcher(t, cellRuntime(), cfg)
	s, err := d.OpenSession(context.Background(), "python", "c", time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ExpiresAt.Sub(s.Created); got != 60*time.Millisecond {
		t.Errorf("ExpiresAt is %v after creation, want the maximum lifetime", got)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := d.Session(s.ID); !errors.Is(err, ErrNoSession) {
		t.Errorf("a session past its maximum lifetime is still open: %v", err)
	}
}

func TestSessionBusyAndCloseWhileRunning(t *testing.T) {
	started := make(chan struct{}, 1)
	rt := &fakeRuntime{}
	rt.handoff = func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
		if len(job.Files[0].Content) == 0 {
			return wire.Result{}, nil // the warm-up cell
		}
		started <- struct{}{}
		<-ctx.Done()
		return wire.Result{}, ctx.Err()
	}
	d := sessionDispatcher(t, rt, sessionBounds())
	ctx := context.Background()
	s, err := d.OpenSession(ctx, "python", "c", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := d.RunInSession(ctx, s.ID, Request{Language: "python", Code: "while True: pass", Timeout: time.Minute})
		done <- err
	}()
	<-started
	if _, err := d.RunInSession(ctx, s.ID, cellRequest("x")); !errors.Is(err, ErrSessionBusy) {
		t.Errorf("a second cell at once: %v, want ErrSessionBusy", err)
	}
	if info, _ := d.Session(s.ID); !info.Running {
		t.Error("a session running a cell does not say so")
	}
	before := rt.destroyedCount()
	if err := d.CloseSession(s.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrNoSession) {
			t.Errorf("the cut-off cell: %v, want ErrNoSession", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing the session did not end its running cell")
	}
	deadline := time.Now().Add(5 * time.Second)
	for rt.destroyedCount() == before {
		if time.Now().After(deadline) {
			t.Fatal("the sandbox of a session closed mid-cell was not destroyed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSessionEndedByItsInterpreter(t *testing.T) {
	rt := &fakeRuntime{handoff: func(_ context.Context, _ *fakeSandbox, job wire.Job) (wire.Result, error) {
		if string(job.Files[0].Content) == "exit(3)" {
			return wire.Result{Stage: wire.Stage{ExitCode: 3}, SessionEnded: true}, nil
		}
		return wire.Result{}, nil
	}}
	d := sessionDispatcher(t, rt, sessionBounds())
	ctx := context.Background()
	s, err := d.OpenSession(ctx, "python", "c", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.RunInSession(ctx, s.ID, cellRequest("exit(3)"))
	if err != nil || !out.Result.SessionEnded || out.Result.ExitCode != 3 {
		t.Fatalf("exit in a cell: %+v %v, want the result with SessionEnded", out.Result, err)
	}
	if _, err := d.Session(s.ID); !errors.Is(err, ErrNoSession) {
		t.Errorf("an ended session is still listed: %v", err)
	}
}

func TestSessionRejectedCellKeepsTheSession(t *testing.T) {
	rt := &fakeRuntime{handoff: func(_ context.Context, _ *fakeSandbox, job wire.Job) (wire.Result, error) {
		if string(job.Files[0].Content) == "bad" {
			return wire.Result{Error: "a cell's code must not contain NUL"}, nil
		}
		return wire.Result{}, nil
	}}
	d := sessionDispatcher(t, rt, sessionBounds())
	ctx := context.Background()
	s, err := d.OpenSession(ctx, "python", "c", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunInSession(ctx, s.ID, cellRequest("bad")); !errors.Is(err, ErrRejected) {
		t.Fatalf("a refused cell: %v, want ErrRejected", err)
	}
	if _, err := d.RunInSession(ctx, s.ID, cellRequest("ok")); err != nil {
		t.Fatalf("the session after a refused cell: %v", err)
	}
}

func TestSessionsClosedAtShutdown(t *testing.T) {
	rt := cellRuntime()
	d := sessionDispatcher(t, rt, sessionBounds())
	ctx := context.Background()
	s, err := d.OpenSession(ctx, "python", "c", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	d.closeSessions()
	if _, err := d.Session(s.ID); !errors.Is(err, ErrNoSession) {
		t.Errorf("a session survived the shutdown: %v", err)
	}
	if _, err := d.OpenSession(ctx, "python", "c", 0, 0); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("opening during shutdown: %v, want ErrShuttingDown", err)
	}
	stats := d.Stats()
	if len(stats) != 1 || stats[0].Busy != 0 {
		t.Errorf("pools after the shutdown's session close: %+v, want no busy sandbox", stats)
	}
}

func TestSessionOpenFailureFreesTheSandbox(t *testing.T) {
	rt := &fakeRuntime{handoff: func(context.Context, *fakeSandbox, wire.Job) (wire.Result, error) {
		return wire.Result{Error: "session: session interpreter not ready after 15s", SessionEnded: true}, nil
	}}
	d := sessionDispatcher(t, rt, sessionBounds())
	before := rt.destroyedCount()
	if _, err := d.OpenSession(context.Background(), "python", "c", 0, 0); err == nil {
		t.Fatal("a session whose interpreter failed opened")
	}
	deadline := time.Now().Add(5 * time.Second)
	for rt.destroyedCount() == before {
		if time.Now().After(deadline) {
			t.Fatal("the sandbox of a session that failed to open was kept")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := d.Stats(); st[0].Busy != 0 {
		t.Errorf("a busy sandbox is left: %+v", st[0])
	}
	for range 2 { // the failed opens freed their slots
		_, _ = d.OpenSession(context.Background(), "python", "c", 0, 0)
	}
	if _, err := d.OpenSession(context.Background(), "python", "c", 0, 0); errors.Is(err, ErrSessionsPerClient) {
		t.Error("failed opens still count against the client")
	}
}
