package pool_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warmbox/warmbox/pool"
)

func TestCreateBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay = 10 * time.Millisecond
		rt.setCreateErr(errBoom)
		obs := &recorder{}
		logs := &logBuffer{}
		cfg := testConfig(2, 4)
		p := newPool(t, cfg, rt, poolOpts{obs: obs, log: logs})

		// Without backoff, 2 parallel 10 ms creates would make ~2000
		// attempts in 10 s. Backoff (100 ms doubling, jitter [d/2, d])
		// allows 7 or 8; the bounds leave room.
		const window = 10 * time.Second
		time.Sleep(window)
		synctest.Wait()
		// A create may be in flight at the end of the window: compare
		// finished attempts.
		creates := rt.counts().CreateFails
		t.Logf("%d failed create attempts in %v", creates, window)
		if creates < 5 || creates > 10 {
			t.Errorf("%d create attempts in %v, want 5..10 with backoff", creates, window)
		}
		s := p.Stats()
		if !s.Degraded || !strings.Contains(s.LastError, "boom") || !s.BackoffUntil.After(time.Now()) {
			t.Errorf("Degraded, LastError, BackoffUntil-now = %v, %q, %v; want true, contains boom, > 0",
				s.Degraded, s.LastError, s.BackoffUntil.Sub(time.Now()))
		}
		if got, want := s.CreateFailures, uint64(creates); got != want {
			t.Errorf("CreateFailures = %d, want %d", got, want)
		}
		if got := logs.count("sandbox create failed"); got != creates {
			t.Errorf("logged %d create failures, want one per backoff step (%d)", got, creates)
		}
		obs.mu.Lock()
		if obs.created != creates || obs.failed != creates {
			t.Errorf("Observer.Created calls, failed = %d, %d; want %d, %d", obs.created, obs.failed, creates, creates)
		}
		obs.mu.Unlock()

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		err := p.WaitReady(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "boom") {
			t.Errorf("WaitReady while failing = %v, want DeadlineExceeded naming the create error", err)
		}

		rt.setCreateErr(nil)
		waitReady(t, p) // the next probe succeeds, then the pool fills
		synctest.Wait()
		s = p.Stats()
		if s.Degraded || s.LastError != "" || !s.BackoffUntil.IsZero() || s.Idle != cfg.MinIdle {
			t.Errorf("after recovery Degraded, LastError, BackoffUntil, Idle = %v, %q, %v, %d; want false, \"\", zero, %d",
				s.Degraded, s.LastError, s.BackoffUntil, s.Idle, cfg.MinIdle)
		}
		if got := logs.count("sandbox create recovered"); got != 1 {
			t.Errorf("logged recovery %d times, want 1", got)
		}
	})
}

func TestCreateParallel(t *testing.T) {
	for _, tc := range []struct {
		parallel int
		wantTime time.Duration // 6 creates of 100 ms, parallel at a time
	}{
		{1, 600 * time.Millisecond},
		{2, 300 * time.Millisecond},
		{3, 200 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("parallel=%d", tc.parallel), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rt := newFake()
				rt.createDelay = 100 * time.Millisecond
				cfg := testConfig(6, 8)
				cfg.CreateParallel = tc.parallel
				start := time.Now()
				p := newPool(t, cfg, rt)
				waitReady(t, p)
				if got := time.Since(start); got != tc.wantTime {
					t.Errorf("warm-up took %v, want %v (fake clock)", got, tc.wantTime)
				}
				if got := rt.counts().MaxInflight; got != tc.parallel {
					t.Errorf("max concurrent creates = %d, want %d", got, tc.parallel)
				}
				if got := p.Stats().Created; got != 6 {
					t.Errorf("Created = %d, want 6", got)
				}
			})
		})
	}
}

// TestCreateOutlivesCaller checks that a caller giving up does not cancel
// the create it triggered: the sandbox goes idle for the next caller.
func TestCreateOutlivesCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay = time.Second
		p := newPool(t, testConfig(0, 1), rt)

		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if _, err := p.Acquire(ctx); !errors.Is(err, pool.ErrExhausted) {
			t.Fatalf("Acquire = %v, want ErrExhausted", err)
		}
		time.Sleep(rt.createDelay)
		synctest.Wait()
		s := p.Stats()
		if s.Idle != 1 || s.Created != 1 || s.CreateFailures != 0 {
			t.Errorf("Idle, Created, CreateFailures = %d, %d, %d; want 1, 1, 0", s.Idle, s.Created, s.CreateFailures)
		}
		l := mustAcquire(t, p)
		if l.Waited() != 0 {
			t.Errorf("Waited = %v, want 0", l.Waited())
		}
		l.Release()
	})
}

// TestWaitersFailFast: callers waiting for a sandbox learn as soon as no
// sandbox can come (creation failed, nothing idle, nothing else being
// created) instead of at their deadline, and later callers at once, until
// a create succeeds again.
func TestWaitersFailFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay = 100 * time.Millisecond
		p := newPool(t, testConfig(0, 2), rt) // nothing idle: every caller waits
		rt.setCreateErr(errBoom)

		start := time.Now()
		errs := make(chan error, 3)
		for range 3 {
			go func() {
				_, err := p.Acquire(t.Context()) // no deadline of its own
				errs <- err
			}()
		}
		for range 3 {
			err := <-errs
			if !errors.Is(err, pool.ErrUnavailable) || !strings.Contains(err.Error(), "boom") {
				t.Errorf("waiter: %v, want ErrUnavailable naming the create error", err)
			}
		}
		if got := time.Since(start); got > 200*time.Millisecond {
			t.Errorf("waiters failed after %v, want when the creates failed (100 ms)", got)
		}

		start = time.Now()
		if _, err := p.Acquire(t.Context()); !errors.Is(err, pool.ErrUnavailable) || time.Since(start) != 0 {
			t.Errorf("a caller while degraded: %v after %v, want ErrUnavailable at once", err, time.Since(start))
		}

		rt.setCreateErr(nil)
		time.Sleep(2 * time.Second) // the next probe (demand keeps the target up) succeeds
		l, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatalf("after recovery: %v", err)
		}
		l.Release()
	})
}

// TestCreateBegunBeforeFailureDoesNotRecover: a create that began before
// creation started failing (before the image was removed) may succeed
// after later ones failed. Its sandbox serves, but the pool stays
// degraded until a create begun after the failure succeeds.
func TestCreateBegunBeforeFailureDoesNotRecover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay, rt.failAtStart = time.Second, true
		cfg := testConfig(1, 4)
		cfg.Autosize = false
		cfg.CreateParallel = 4
		p := newPool(t, cfg, rt)
		waitReady(t, p)

		first := mustAcquire(t, p) // its replacement's create begins: 1 s
		time.Sleep(100 * time.Millisecond)
		rt.setCreateErr(errors.New("no such image"))
		got := make(chan *pool.Lease[*fakeSandbox], 1)
		go func() { got <- mustAcquire(t, p) }() // waits; its create fails at once
		synctest.Wait()
		if s := p.Stats(); !s.Degraded {
			t.Fatalf("after a failed create Degraded = false, want true")
		}
		second := <-got // the create begun before the failure
		if s := p.Stats(); !s.Degraded || s.LastError == "" {
			t.Errorf("after a create begun before the failure succeeded Degraded, LastError = %v, %q; want true and the error", s.Degraded, s.LastError)
		}
		rt.setCreateErr(nil)
		time.Sleep(time.Minute) // the backoff ends and a probe succeeds
		synctest.Wait()
		if s := p.Stats(); s.Degraded {
			t.Errorf("after a create begun after the failure succeeded Degraded = true, want false")
		}
		first.Release()
		second.Release()
	})
}
