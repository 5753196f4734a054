package pool_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warmbox/warmbox/pool"
)

// destroyedTotal sums Stats.Destroyed.
func destroyedTotal(s pool.Stats) uint64 {
	var n uint64
	for _, v := range s.Destroyed {
		n += v
	}
	return n
}

func TestCloseFailsWaitersAndWaitsForLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		obs := &recorder{}
		p := newPool(t, testConfig(1, 1), rt, poolOpts{obs: obs})
		waitReady(t, p)
		held := mustAcquire(t, p)

		errs := make(chan error, 3)
		for range 3 {
			go func() {
				_, err := p.Acquire(t.Context())
				errs <- err
			}()
		}
		synctest.Wait()

		closed := make(chan error, 1)
		go func() { closed <- p.Close(context.Background()) }()
		synctest.Wait()
		for range 3 {
			if err := <-errs; !errors.Is(err, pool.ErrClosed) {
				t.Errorf("waiter got %v, want ErrClosed", err)
			}
		}
		select {
		case err := <-closed:
			t.Fatalf("Close returned %v while a lease is held, want it to wait", err)
		default:
		}
		if _, err := p.Acquire(t.Context()); !errors.Is(err, pool.ErrClosed) {
			t.Errorf("Acquire after Close = %v, want ErrClosed", err)
		}

		held.Release()
		if err := <-closed; err != nil {
			t.Errorf("Close = %v, want nil", err)
		}
		s := p.Stats()
		if got, want := s.Destroyed[pool.ReasonUsed], uint64(1); got != want {
			t.Errorf("Destroyed[used] = %d, want %d (released after Close)", got, want)
		}
		if got := destroyedTotal(s); got != s.Created {
			t.Errorf("destroyed %d, created %d", got, s.Created)
		}
		if s.Idle+s.Busy+s.Creating+s.Destroying+s.Waiting != 0 {
			t.Errorf("after Close Stats = %+v, want all counts 0", s)
		}
		rt.checkAllDestroyedOnce(t)
		obs.mu.Lock()
		if got, want := obs.destroyed[pool.ReasonUsed]+obs.destroyed[pool.ReasonShutdown], rt.counts().Destroys; got != want {
			t.Errorf("Observer.Destroyed calls = %d, want %d", got, want)
		}
		obs.mu.Unlock()
	})
}

func TestCloseIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.destroyDelay = time.Second
		p := newPool(t, testConfig(3, 4), rt)
		waitReady(t, p)

		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if err := p.Close(context.Background()); err != nil {
					t.Errorf("concurrent Close = %v, want nil", err)
				}
			})
		}
		wg.Wait()
		closePool(t, p) // once more, after the others
		if got, want := p.Stats().Destroyed[pool.ReasonShutdown], uint64(3); got != want {
			t.Errorf("Destroyed[shutdown] = %d, want %d", got, want)
		}
		rt.checkAllDestroyedOnce(t)
		if err := p.WaitReady(t.Context()); err != nil {
			t.Errorf("WaitReady after Close = %v, want nil (it was ready once)", err)
		}
	})
}

func TestCloseInFlight(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ignoresCtx  bool
		wantCreated uint64
	}{
		{"create cancelled", false, 0},
		{"create finishes, result destroyed", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rt := newFake()
				rt.createDelay = time.Second
				rt.createIgnoresCtx = tc.ignoresCtx
				p := newPool(t, testConfig(2, 4), rt)
				synctest.Wait() // two creates in flight
				if got := p.Stats().Creating; got != 2 {
					t.Fatalf("Creating = %d, want 2", got)
				}
				closePool(t, p)
				s := p.Stats()
				if s.Created != tc.wantCreated || s.CreateFailures != 0 || s.Degraded {
					t.Errorf("Created, CreateFailures, Degraded = %d, %d, %v; want %d, 0, false",
						s.Created, s.CreateFailures, s.Degraded, tc.wantCreated)
				}
				if got := s.Destroyed[pool.ReasonShutdown]; got != tc.wantCreated {
					t.Errorf("Destroyed[shutdown] = %d, want %d", got, tc.wantCreated)
				}
				rt.checkAllDestroyedOnce(t)
			})
		})
	}
}

func TestCloseDuringReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.resetDelay = 10 * time.Second
		cfg := testConfig(1, 1)
		cfg.MaxUses = 3
		p := newPool(t, cfg, rt)
		waitReady(t, p)
		mustAcquire(t, p).Release()
		synctest.Wait() // resetting

		start := time.Now()
		closePool(t, p)
		if got := time.Since(start); got != 0 {
			t.Errorf("Close took %v, want 0: it cancels the reset", got)
		}
		s := p.Stats()
		if got := s.Destroyed[pool.ReasonShutdown]; got != 1 || s.Destroyed[pool.ReasonResetFailed] != 0 {
			t.Errorf("Destroyed = %v, want shutdown: 1 only", s.Destroyed)
		}
		rt.checkAllDestroyedOnce(t)
	})
}

func TestCloseContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		cfg := testConfig(1, 2)
		cfg.MaxUses = 2 // a Release after Close must not reset
		p := newPool(t, cfg, rt)
		waitReady(t, p)
		held := mustAcquire(t, p)
		synctest.Wait() // the replacement is idle

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close with a held lease = %v, want DeadlineExceeded", err)
		}
		held.Release() // destroyed in the background
		closePool(t, p)
		if got, want := p.Stats().Destroyed[pool.ReasonShutdown], uint64(2); got != want {
			t.Errorf("Destroyed[shutdown] = %d, want %d", got, want)
		}
		if got := rt.counts().Resets; got != 0 {
			t.Errorf("Resets = %d, want 0 after Close", got)
		}
		rt.checkAllDestroyedOnce(t)
	})
}
