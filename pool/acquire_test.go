package pool_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warmbox/warmbox/pool"
)

func TestMaxSizeUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxUses int
	}{
		{"single use", 1},
		{"reused 3 times", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const acquirers = 50
				rt := newFake()
				rt.createDelay = 100 * time.Millisecond
				rt.resetDelay = 20 * time.Millisecond
				rt.destroyDelay = 50 * time.Millisecond
				cfg := testConfig(2, 5)
				cfg.MaxUses = tc.maxUses
				cfg.MaxWaiters = acquirers
				p := newPool(t, cfg, rt)

				check := func(when string) {
					s := p.Stats()
					if n := s.Idle + s.Busy + s.Creating; n > cfg.MaxSize {
						t.Errorf("%s: Idle+Busy+Creating = %d+%d+%d = %d, want <= %d",
							when, s.Idle, s.Busy, s.Creating, n, cfg.MaxSize)
					}
				}
				var leased, maxLeased atomic.Int32
				var wg sync.WaitGroup
				done := make(chan struct{})
				go func() { // sample Stats while the load runs
					for {
						select {
						case <-done:
							return
						case <-time.After(5 * time.Millisecond):
							check("sampler")
						}
					}
				}()
				for range acquirers {
					wg.Go(func() {
						l, err := p.Acquire(t.Context())
						if err != nil {
							t.Errorf("Acquire: %v", err)
							return
						}
						n := leased.Add(1)
						for m := maxLeased.Load(); n > m && !maxLeased.CompareAndSwap(m, n); m = maxLeased.Load() {
						}
						check("acquirer")
						time.Sleep(time.Duration(10+rand.IntN(40)) * time.Millisecond)
						leased.Add(-1)
						l.Release()
					})
				}
				wg.Wait()
				close(done)

				if got := maxLeased.Load(); got > int32(cfg.MaxSize) {
					t.Errorf("max concurrent leases = %d, want <= %d", got, cfg.MaxSize)
				}
				if got, want := p.Stats().Acquired, uint64(acquirers); got != want {
					t.Errorf("Acquired = %d, want %d", got, want)
				}
				closePool(t, p)
				rt.checkAllDestroyedOnce(t)
			})
		})
	}
}

func TestWaiterServedByCreate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay = 300 * time.Millisecond
		p := newPool(t, testConfig(0, 2), rt)

		l := mustAcquire(t, p)
		defer l.Release()
		if got, want := l.Waited(), rt.createDelay; got != want {
			t.Errorf("Waited = %v, want %v (one create, fake clock)", got, want)
		}
		s := p.Stats()
		if s.Created != 1 || s.Acquired != 1 || s.Idle != 0 || s.Waiting != 0 {
			t.Errorf("Created, Acquired, Idle, Waiting = %d, %d, %d, %d; want 1, 1, 0, 0",
				s.Created, s.Acquired, s.Idle, s.Waiting)
		}
	})
}

func TestWaitersFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		p := newPool(t, testConfig(1, 1), rt)
		waitReady(t, p)
		held := mustAcquire(t, p)

		order := make(chan string, 3)
		var wg sync.WaitGroup
		for _, name := range []string{"first", "second", "third"} {
			wg.Go(func() {
				l := mustAcquire(t, p)
				order <- name
				l.Release()
			})
			synctest.Wait() // queued in this order
		}
		if got, want := p.Stats().Waiting, 3; got != want {
			t.Fatalf("Waiting = %d, want %d", got, want)
		}
		held.Release()
		wg.Wait()
		close(order)
		var got []string
		for name := range order {
			got = append(got, name)
		}
		if want := []string{"first", "second", "third"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("served %v, want %v", got, want)
		}
	})
}

func TestAcquireContextEnds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		wantErr error
		wait    time.Duration
	}{
		{"deadline", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 100*time.Millisecond)
		}, context.DeadlineExceeded, 100 * time.Millisecond},
		{"already cancelled", func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			return ctx, cancel
		}, context.Canceled, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPool(t, testConfig(1, 1), newFake())
				waitReady(t, p)
				held := mustAcquire(t, p)
				defer held.Release()

				ctx, cancel := tc.ctx(t.Context())
				defer cancel()
				start := time.Now()
				l, err := p.Acquire(ctx)
				if l != nil || !errors.Is(err, pool.ErrExhausted) || !errors.Is(err, tc.wantErr) {
					t.Fatalf("Acquire = %v, %v; want nil, ErrExhausted and %v", l, err, tc.wantErr)
				}
				if got := time.Since(start); got != tc.wait {
					t.Errorf("Acquire returned after %v, want %v (fake clock)", got, tc.wait)
				}
				s := p.Stats()
				if s.AcquireTimeouts != 1 || s.Waiting != 0 {
					t.Errorf("AcquireTimeouts, Waiting = %d, %d; want 1, 0", s.AcquireTimeouts, s.Waiting)
				}
			})
		})
	}
}

func TestMaxWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(1, 1)
		cfg.MaxWaiters = 2
		p := newPool(t, cfg, newFake())
		waitReady(t, p)
		held := mustAcquire(t, p)

		var wg sync.WaitGroup
		for range cfg.MaxWaiters {
			wg.Go(func() { mustAcquire(t, p).Release() })
		}
		synctest.Wait()
		if got := p.Stats().Waiting; got != cfg.MaxWaiters {
			t.Fatalf("Waiting = %d, want %d", got, cfg.MaxWaiters)
		}

		start := time.Now()
		l, err := p.Acquire(t.Context()) // no deadline: must not wait at all
		if l != nil || !errors.Is(err, pool.ErrExhausted) {
			t.Fatalf("Acquire over MaxWaiters = %v, %v; want nil, ErrExhausted", l, err)
		}
		if got := time.Since(start); got != 0 {
			t.Errorf("Acquire over MaxWaiters took %v, want 0", got)
		}
		if got := p.Stats().AcquireTimeouts; got != 1 {
			t.Errorf("AcquireTimeouts = %d, want 1", got)
		}
		held.Release()
		wg.Wait()
	})
}

// TestCancelledWaiterHandsBack makes a waiter's deadline and the create
// that serves it end at the same fake instant, many times: whichever wins,
// the sandbox is either leased or handed back, never lost.
func TestCancelledWaiterHandsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rounds = 200
		var got, gaveUp int
		for range rounds {
			rt := newFake()
			rt.createDelay = 100 * time.Millisecond
			p, err := pool.New("python", testConfig(0, 1), rt, nil, nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), rt.createDelay)
			l, err := p.Acquire(ctx)
			cancel()
			switch {
			case err == nil:
				got++
				l.Release()
			case errors.Is(err, pool.ErrExhausted):
				gaveUp++
			default:
				t.Fatalf("Acquire: %v", err)
			}
			synctest.Wait()
			if s := p.Stats(); s.Busy != 0 || s.Waiting != 0 || s.Idle+int(s.Destroyed[pool.ReasonUsed]) != 1 {
				t.Fatalf("after round: Busy, Waiting, Idle, Destroyed = %d, %d, %d, %v; want 0, 0, and one sandbox idle or used",
					s.Busy, s.Waiting, s.Idle, s.Destroyed)
			}
			closePool(t, p)
			s := p.Stats()
			var destroyed uint64
			for _, n := range s.Destroyed {
				destroyed += n
			}
			if destroyed != s.Created {
				t.Fatalf("after Close: destroyed %d, created %d", destroyed, s.Created)
			}
			rt.checkAllDestroyedOnce(t)
		}
		t.Logf("%d rounds: %d leased, %d gave up", rounds, got, gaveUp)
	})
}
