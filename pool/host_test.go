package pool_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warmbox/warmbox/pool"
)

// newHostPool starts a pool drawing on h and closes it at cleanup.
func newHostPool(t *testing.T, name string, cfg pool.Config, rt *fakeRuntime, h *pool.Host) *pool.Pool[*fakeSandbox] {
	t.Helper()
	p, err := pool.New(name, cfg, rt, nil, slog.New(slog.DiscardHandler), pool.WithHost(h))
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("Close(%s): %v", name, err)
		}
	})
	return p
}

// checkHost fails if the pools sharing h exceed its limits or a pool holds
// fewer than MinIdle idle sandboxes while none is leased. Call it while
// the bubble is idle (after synctest.Wait), so that the snapshots agree.
func checkHost(t *testing.T, h *pool.Host, pools ...*pool.Pool[*fakeSandbox]) {
	t.Helper()
	hs := h.Stats()
	if hs.CreateParallel > 0 && hs.Creating > hs.CreateParallel {
		t.Errorf("host Creating = %d, want <= %d", hs.Creating, hs.CreateParallel)
	}
	if hs.IdleBudget > 0 && hs.IdleInUse > hs.IdleBudget {
		t.Errorf("host IdleInUse = %d, want <= IdleBudget %d", hs.IdleInUse, hs.IdleBudget)
	}
	var above, held int
	for _, p := range pools {
		s := p.Stats()
		// Idle sandboxes and creates beyond MinIdle and the waiters are
		// what the budget pays for.
		above += max(0, s.Idle+s.Creating-s.MinIdle-s.Waiting)
		held += s.BudgetHeld
	}
	if hs.IdleBudget > 0 && above > hs.IdleBudget {
		t.Errorf("idle+creating beyond MinIdle and waiters = %d across pools, want <= IdleBudget %d", above, hs.IdleBudget)
	}
	if held != hs.IdleInUse {
		t.Errorf("pools hold %d budget slots, host says %d in use", held, hs.IdleInUse)
	}
}

// TestHostBurst runs a burst on two pools sharing a host: every waiter is
// served as creates finish, and the creates of both pools together never
// exceed the host's limit.
func TestHostBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const burst = 20
		rt := newFake() // shared: its MaxInflight counts both pools
		rt.createDelay = 100 * time.Millisecond
		h := pool.NewHost(pool.HostConfig{IdleBudget: 2, CreateParallel: 3})
		cfg := testConfig(2, 10)
		cfg.CreateParallel = 4 // per pool: 8 together, above the host's 3
		cfg.MaxWaiters = burst
		py := newHostPool(t, "python", cfg, rt, h)
		js := newHostPool(t, "node", cfg, rt, h)
		waitReady(t, py)
		waitReady(t, js)

		var wg sync.WaitGroup
		var mu sync.Mutex
		waited := map[string]int{}
		for _, p := range []*pool.Pool[*fakeSandbox]{py, js} {
			for range burst {
				wg.Go(func() {
					l := mustAcquire(t, p)
					if l.Waited() > 0 {
						mu.Lock()
						waited[p.Name()]++
						mu.Unlock()
					}
					time.Sleep(50 * time.Millisecond)
					l.Release()
				})
			}
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		for running := true; running; {
			select {
			case <-done:
				running = false
			case <-time.After(10 * time.Millisecond):
			}
			synctest.Wait()
			checkHost(t, h, py, js)
		}

		if got, want := rt.counts().MaxInflight, 3; got != want {
			t.Errorf("max concurrent creates across pools = %d, want %d (the host limit)", got, want)
		}
		for _, p := range []*pool.Pool[*fakeSandbox]{py, js} {
			s := p.Stats()
			if s.Acquired != burst || s.AcquireTimeouts != 0 {
				t.Errorf("%s: Acquired, AcquireTimeouts = %d, %d; want %d, 0", p.Name(), s.Acquired, s.AcquireTimeouts, burst)
			}
			// MinIdle were idle at the start; every other caller waited
			// for a create.
			if got, want := waited[p.Name()], burst-cfg.MinIdle; got != want {
				t.Errorf("%s: %d callers waited, want %d", p.Name(), got, want)
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		checkHost(t, h, py, js)
		for _, p := range []*pool.Pool[*fakeSandbox]{py, js} {
			if s := p.Stats(); s.Idle != cfg.MinIdle || s.Waiting != 0 {
				t.Errorf("%s settled: Idle, Waiting = %d, %d; want %d, 0", p.Name(), s.Idle, s.Waiting, cfg.MinIdle)
			}
		}
		if hs := h.Stats(); hs.Creating != 0 || hs.IdleInUse != 0 {
			t.Errorf("host settled: Creating, IdleInUse = %d, %d; want 0, 0", hs.Creating, hs.IdleInUse)
		}
	})
}

// TestHostFairShare lets a hot pool take the whole idle budget while the
// other pool wants none, then shows it shedding down to its fair share once
// the other pool has demand of its own. The budget is never exceeded.
func TestHostFairShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay = time.Second
		h := pool.NewHost(pool.HostConfig{IdleBudget: 4, CreateParallel: 12})
		hotCfg := testConfig(1, 12)
		hotCfg.CreateParallel = 8
		hotCfg.MaxWaiters = 100
		hotCfg.Headroom = 10 // keeps python's target high after its load stops
		cfg := hotCfg
		cfg.Headroom = 1.5
		py := newHostPool(t, "python", hotCfg, rt, h)
		js := newHostPool(t, "node", cfg, rt, h)
		waitReady(t, py)
		waitReady(t, js)

		// python at 4/s wants up to MaxSize-MinIdle = 11 slots, more than
		// the budget, which it may take while node wants none.
		hot := startLoad(t, py, 250*time.Millisecond, 0)
		maxHeld := 0
		every(time.Minute, 100*time.Millisecond, func() {
			checkHost(t, h, py, js)
			maxHeld = max(maxHeld, py.Stats().BudgetHeld)
		})
		hot.Stop()
		if maxHeld != 4 {
			t.Errorf("python held at most %d budget slots alone, want the whole budget (4)", maxHeld)
		}

		// node at 2/s: its target reaches 3 (two above MinIdle) after
		// about 23 s. The fair shares are then 2 and 2: python, idle and
		// still wanting more, must shed two sandboxes to give slots back.
		cold := startLoad(t, js, 500*time.Millisecond, 0)
		defer cold.Stop()
		every(30*time.Second, 100*time.Millisecond, func() { checkHost(t, h, py, js) })
		nodeMax := 0
		every(10*time.Second, 100*time.Millisecond, func() {
			checkHost(t, h, py, js)
			if got := py.Stats().BudgetHeld; got > 2 {
				t.Errorf("python holds %d budget slots while node wants its share, want <= 2", got)
			}
			nodeMax = max(nodeMax, js.Stats().BudgetHeld)
		})
		if nodeMax != 2 {
			t.Errorf("node held at most %d budget slots, want its share (2)", nodeMax)
		}
		s := py.Stats()
		if s.Destroyed[pool.ReasonSurplus] < 2 || s.Target <= 3 || s.Idle != 3 {
			t.Errorf("python Destroyed[surplus], Target, Idle = %d, %d, %d; want >= 2, > 3 (still wanted), 3 (MinIdle + share)",
				s.Destroyed[pool.ReasonSurplus], s.Target, s.Idle)
		}
	})
}

// TestHostMinIdleWithoutBudget fills a host's idle budget with one pool and
// checks that another still keeps its MinIdle, and replaces what it uses.
func TestHostMinIdleWithoutBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay = time.Second
		h := pool.NewHost(pool.HostConfig{IdleBudget: 1})
		hotCfg := testConfig(1, 10)
		hotCfg.CreateParallel = 8
		py := newHostPool(t, "python", hotCfg, rt, h)
		hot := startLoad(t, py, 250*time.Millisecond, 0)
		defer hot.Stop()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if hs := h.Stats(); hs.IdleInUse != hs.IdleBudget {
			t.Fatalf("host IdleInUse = %d, want the whole budget (%d) taken by python", hs.IdleInUse, hs.IdleBudget)
		}

		cfg := testConfig(3, 5)
		cfg.Autosize = false // wants no budget, so python keeps it
		js := newHostPool(t, "node", cfg, rt, h)
		waitReady(t, js)
		for range 5 {
			mustAcquire(t, js).Release()
			time.Sleep(3 * time.Second)
			synctest.Wait()
			checkHost(t, h, py, js)
			if s := js.Stats(); s.Idle != cfg.MinIdle || s.BudgetHeld != 0 {
				t.Errorf("node Idle, BudgetHeld = %d, %d; want %d, 0", s.Idle, s.BudgetHeld, cfg.MinIdle)
			}
		}
		if hs := h.Stats(); hs.IdleInUse != hs.IdleBudget {
			t.Errorf("host IdleInUse = %d, want %d (python kept it)", hs.IdleInUse, hs.IdleBudget)
		}
	})
}

// TestHostBudgetCapsReuse sends sandboxes back to idle after reuse, more
// than MinIdle and the budget hold: the excess is destroyed at once.
func TestHostBudgetCapsReuse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const burst = 5
		rt := newFake()
		h := pool.NewHost(pool.HostConfig{IdleBudget: 1})
		cfg := testConfig(1, burst)
		cfg.MaxUses = 5
		cfg.CreateParallel = burst
		p := newHostPool(t, "python", cfg, rt, h)
		waitReady(t, p)

		// Callers beyond the idle one wait; their creates need no budget.
		leases := make(chan *pool.Lease[*fakeSandbox], burst)
		for range burst {
			go func() { leases <- mustAcquire(t, p) }()
		}
		for range burst {
			(<-leases).Release() // reset, then back to idle if it fits
			synctest.Wait()
			checkHost(t, h, p)
		}
		// At most MinIdle+budget = 2 stay; the demand rule may take one
		// more at once (the first surplus destroy is not delayed), but not
		// the three that only the budget explains.
		s := p.Stats()
		surplus := s.Destroyed[pool.ReasonSurplus]
		if s.Idle > cfg.MinIdle+1 || surplus < burst-2 || s.Idle+int(surplus) != burst {
			t.Errorf("Idle, Destroyed[surplus] = %d, %d; want <= %d (MinIdle + budget), >= %d, summing to %d",
				s.Idle, surplus, cfg.MinIdle+1, burst-2, burst)
		}
	})
}

// TestHostReuseBelowMinIdle returns a reused sandbox while the pool is
// below MinIdle and the budget is taken: it is kept, and the replacement
// created meanwhile is the one that goes.
func TestHostReuseBelowMinIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay = time.Second
		h := pool.NewHost(pool.HostConfig{IdleBudget: 1})
		other := newHostPool(t, "node", testConfig(0, 4), rt, h)
		cfg := testConfig(2, 4)
		cfg.MaxUses = 5
		cfg.Autosize = false
		p := newHostPool(t, "python", cfg, rt, h)
		waitReady(t, p)
		l := mustAcquire(t, other) // node's replacement for it takes the budget
		l.Release()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if hs := h.Stats(); hs.IdleInUse != 1 || other.Stats().BudgetHeld != 1 {
			t.Fatalf("host IdleInUse, node BudgetHeld = %d, %d; want 1, 1", hs.IdleInUse, other.Stats().BudgetHeld)
		}

		a, b := mustAcquire(t, p), mustAcquire(t, p)
		synctest.Wait() // two replacements creating, within MinIdle
		reused := a.Sandbox().ID()
		a.Release()
		synctest.Wait() // reset done
		if s := p.Stats(); s.Idle != 1 || s.Creating != 2 {
			t.Errorf("after reuse Idle, Creating = %d, %d; want 1, 2", s.Idle, s.Creating)
		}
		time.Sleep(rt.createDelay)
		synctest.Wait()
		checkHost(t, h, p, other)
		s := p.Stats()
		if s.Idle != cfg.MinIdle || s.Destroyed[pool.ReasonSurplus] != 1 {
			t.Errorf("Idle, Destroyed[surplus] = %d, %d; want %d, 1", s.Idle, s.Destroyed[pool.ReasonSurplus], cfg.MinIdle)
		}
		if l := mustAcquire(t, p); l.Sandbox().ID() != reused {
			t.Errorf("first idle sandbox = %s, want the reused %s", l.Sandbox().ID(), reused)
		} else {
			l.Release()
		}
		b.Release()
	})
}

// TestHostCloseReturnsBudget checks that a closed pool's slots go back.
func TestHostCloseReturnsBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay = time.Second
		h := pool.NewHost(pool.HostConfig{IdleBudget: 3, CreateParallel: 4})
		cfg := testConfig(0, 10)
		cfg.CreateParallel = 8
		py := newHostPool(t, "python", cfg, rt, h)
		g := startLoad(t, py, 250*time.Millisecond, 0)
		time.Sleep(30 * time.Second)
		g.Stop()
		synctest.Wait()
		if hs := h.Stats(); hs.IdleInUse == 0 {
			t.Fatalf("host IdleInUse = 0 under load, want > 0")
		}
		closePool(t, py)
		if hs := h.Stats(); hs != (pool.HostStats{IdleBudget: 3, CreateParallel: 4}) {
			t.Errorf("host Stats after Close = %+v, want nothing in use", hs)
		}
		rt.checkAllDestroyedOnce(t)
	})
}

func TestHostConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     pool.HostConfig
		wantErr []string
	}{
		{"unlimited", pool.HostConfig{}, nil},
		{"limits", pool.HostConfig{IdleBudget: 20, CreateParallel: 2}, nil},
		{"negative budget", pool.HostConfig{IdleBudget: -1}, []string{"idle_budget: must be >= 0 (0 = unlimited), got -1"}},
		{"all reported", pool.HostConfig{IdleBudget: -1, CreateParallel: -2},
			[]string{"idle_budget:", "create_parallel: must be >= 0 (0 = unlimited), got -2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to contain %q", err, want)
				}
			}
		})
	}
	t.Run("NewHost panics on invalid", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Errorf("NewHost(invalid) did not panic")
			}
		}()
		pool.NewHost(pool.HostConfig{IdleBudget: -1})
	})
}
