package pool_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warmbox/warmbox/pool"
)

// loadGen acquires a sandbox every tick in the background and holds each
// lease for hold before releasing it.
type loadGen struct {
	wg     sync.WaitGroup
	stop   chan struct{}
	served atomic.Int64 // leases obtained
	waited atomic.Int64 // leases for which Acquire waited
}

func startLoad(t *testing.T, p *pool.Pool[*fakeSandbox], every, hold time.Duration) *loadGen {
	t.Helper()
	g := &loadGen{stop: make(chan struct{})}
	g.wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-g.stop:
				return
			case <-tick.C:
			}
			g.wg.Go(func() {
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				l, err := p.Acquire(ctx)
				if err != nil {
					t.Errorf("%s: Acquire: %v", p.Name(), err)
					return
				}
				g.served.Add(1)
				if l.Waited() > 0 {
					g.waited.Add(1)
				}
				time.Sleep(hold)
				l.Release()
			})
		}
	})
	return g
}

// Stop ends the load and waits for its leases to end.
func (g *loadGen) Stop() {
	close(g.stop)
	g.wg.Wait()
}

// every runs check after each step (once the bubble is idle) for d.
func every(d, step time.Duration, check func()) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(step)
		synctest.Wait()
		check()
	}
}

func TestAutosize(t *testing.T) {
	for _, tc := range []struct {
		name     string
		autosize bool
		maxSize  int
		interval time.Duration // between acquisitions
		// Target after 60 s of load (3 time constants of the rate).
		wantLo, wantHi int
		wantNoWaits    bool // in the last 20 s of load
	}{
		// 10/s x 1 s x 1.5 = 15 at full rate; 60 s shows 95% of it.
		{"follows demand", true, 30, 100 * time.Millisecond, 14, 16, true},
		{"clamped to max_size", true, 6, 200 * time.Millisecond, 6, 6, false},
		{"autosize off", false, 30, 100 * time.Millisecond, 1, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rt := newFake()
				rt.createDelay = time.Second
				cfg := testConfig(1, tc.maxSize)
				cfg.Autosize = tc.autosize
				cfg.CreateParallel = 16
				cfg.MaxWaiters = 200
				p := newPool(t, cfg, rt)
				waitReady(t, p)

				g := startLoad(t, p, tc.interval, 0)
				every(40*time.Second, time.Second, func() {
					if s := p.Stats(); s.Idle+s.Busy+s.Creating > cfg.MaxSize {
						t.Errorf("Idle+Busy+Creating = %d, want <= %d", s.Idle+s.Busy+s.Creating, cfg.MaxSize)
					}
				})
				waitedBefore := g.waited.Load()
				time.Sleep(20 * time.Second)
				synctest.Wait()
				s := p.Stats()
				if tc.wantNoWaits {
					if n := g.waited.Load() - waitedBefore; n != 0 {
						t.Errorf("%d acquisitions waited at steady demand, want 0 (served from idle)", n)
					}
				}
				g.Stop()

				wantRate := float64(time.Second) / float64(tc.interval)
				// The fast estimate runs up to half an arrival per second
				// above the rate right after each arrival.
				if s.ArrivalRate < 0.9*wantRate || s.ArrivalRate > 1.06*wantRate {
					t.Errorf("ArrivalRate = %.2f/s, want about %.2f/s", s.ArrivalRate, 0.95*wantRate)
				}
				if s.CreateTime != rt.createDelay {
					t.Errorf("CreateTime = %v, want %v", s.CreateTime, rt.createDelay)
				}
				if s.Target < tc.wantLo || s.Target > tc.wantHi {
					t.Errorf("Target = %d under load, want %d..%d", s.Target, tc.wantLo, tc.wantHi)
				}

				// Demand stops: the target decays to MinIdle and the surplus
				// goes, at most one sandbox per maintainer tick.
				prev := p.Stats()
				every(3*time.Minute, time.Second, func() {
					s := p.Stats()
					if d := s.Destroyed[pool.ReasonSurplus] - prev.Destroyed[pool.ReasonSurplus]; d > 1 {
						t.Errorf("%d surplus destroys within one second, want at most 1", d)
					}
					if s.Target > prev.Target {
						t.Errorf("Target rose from %d to %d without demand", prev.Target, s.Target)
					}
					if s.Idle < cfg.MinIdle {
						t.Errorf("Idle = %d, want >= MinIdle %d", s.Idle, cfg.MinIdle)
					}
					prev = s
				})
				s = p.Stats()
				if s.Target != cfg.MinIdle || s.Idle != cfg.MinIdle || s.ArrivalRate != 0 {
					t.Errorf("after demand stopped Target, Idle, ArrivalRate = %d, %d, %v; want %d, %d, 0",
						s.Target, s.Idle, s.ArrivalRate, cfg.MinIdle, cfg.MinIdle)
				}
				surplus := s.Destroyed[pool.ReasonSurplus]
				if tc.autosize && surplus < uint64(tc.wantLo-cfg.MinIdle) {
					t.Errorf("Destroyed[surplus] = %d, want >= %d", surplus, tc.wantLo-cfg.MinIdle)
				}
				if !tc.autosize && surplus != 0 {
					t.Errorf("Destroyed[surplus] = %d with autosize off, want 0", surplus)
				}
				t.Logf("served %d (%d waited), surplus destroyed %d", g.served.Load(), g.waited.Load(), surplus)
				closePool(t, p)
				rt.checkAllDestroyedOnce(t)
			})
		})
	}
}

// TestSurplusKeepsMinIdle checks that a pool shrinking after a burst keeps
// MinIdle and does not replace what it sheds.
func TestSurplusKeepsMinIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay = 2 * time.Second
		cfg := testConfig(3, 20)
		cfg.CreateParallel = 20
		cfg.MaxWaiters = 100
		p := newPool(t, cfg, rt)
		waitReady(t, p)

		// A burst of 60 jobs at once: the rate jumps by 60/20 s = 3/s,
		// the target to 3 x 2 s x 1.5 = 9 and decays from there.
		var wg sync.WaitGroup
		for range 60 {
			wg.Go(func() { mustAcquire(t, p).Release() })
		}
		wg.Wait()
		synctest.Wait()
		if got := p.Stats().Target; got <= cfg.MinIdle {
			t.Errorf("Target after the burst = %d, want above MinIdle %d", got, cfg.MinIdle)
		}
		time.Sleep(5 * time.Second) // creates for the target finish
		created := p.Stats().Created
		every(2*time.Minute, time.Second, func() {
			if s := p.Stats(); s.Idle < cfg.MinIdle {
				t.Errorf("Idle = %d, want >= %d", s.Idle, cfg.MinIdle)
			}
		})
		s := p.Stats()
		if s.Idle != cfg.MinIdle || s.Created != created {
			t.Errorf("Idle, Created = %d, %d; want %d, %d (shed, not replaced)", s.Idle, s.Created, cfg.MinIdle, created)
		}
	})
}

// TestSurplusAfterBurst ends a burst with every sandbox coming back idle at
// once (reused, MaxUses > 1) while light demand keeps waking the
// maintainer: the surplus goes one per maintainer tick, not all at once.
func TestSurplusAfterBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const burst = 12
		rt := newFake()
		rt.createDelay = 100 * time.Millisecond
		cfg := testConfig(1, burst)
		cfg.MaxUses = 1000
		cfg.CreateParallel = burst
		p := newPool(t, cfg, rt)
		waitReady(t, p)

		var wg sync.WaitGroup
		for range burst {
			wg.Go(func() {
				l := mustAcquire(t, p)
				time.Sleep(time.Second)
				l.Release()
			})
		}
		wg.Wait()
		synctest.Wait()
		s := p.Stats()
		// 12 calls: 0.6/s x 0.1 s x 1.5 rounds up to 1 = MinIdle.
		if s.Idle != burst || s.Target != cfg.MinIdle {
			t.Fatalf("after the burst Idle, Target = %d, %d; want %d, %d", s.Idle, s.Target, burst, cfg.MinIdle)
		}
		// 5/s x 0.1 s x 1.5 < 1: the target stays at MinIdle.
		g := startLoad(t, p, 200*time.Millisecond, 0)
		prev := s
		every(30*time.Second, time.Second, func() {
			s := p.Stats()
			if d := s.Destroyed[pool.ReasonSurplus] - prev.Destroyed[pool.ReasonSurplus]; d > 1 {
				t.Errorf("%d surplus destroys within one second, want at most 1", d)
			}
			prev = s
		})
		g.Stop()
		// Under light load a reused sandbox comes back while its
		// replacement is created: at most one stays above the target,
		// and is not destroyed and recreated over and over.
		s = p.Stats()
		if created := s.Created - uint64(burst); created > 2 {
			t.Errorf("%d creates under light load after the burst, want <= 2 (no thrash)", created)
		}
		if s.Idle > cfg.MinIdle+1 || s.Destroyed[pool.ReasonSurplus] > burst {
			t.Errorf("under light load Idle, Destroyed[surplus] = %d, %d; want <= %d, <= %d",
				s.Idle, s.Destroyed[pool.ReasonSurplus], cfg.MinIdle+1, burst)
		}
		// Without demand the spare one goes once it stayed spare for the
		// pool's shed delay (10 s).
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if s := p.Stats(); s.Idle != cfg.MinIdle {
			t.Errorf("without demand Idle = %d, want MinIdle %d", s.Idle, cfg.MinIdle)
		}
	})
}

// TestSteadyLoadDoesNotChurn holds a steady load on a reused pool whose
// reset times swing (as a loaded host's do), so that its target swings
// with them: the pool must not shed a sandbox it creates again seconds
// later, whether the swings are quick or the target stays low for longer
// than the shed delay. It sheds only once demand has stayed below the
// target's recent peak for the shed delay.
func TestSteadyLoadDoesNotChurn(t *testing.T) {
	for _, tc := range []struct {
		name      string
		low, high int // resets of 10 ms, then of 300 ms, at 20/s
	}{
		// The smoothed reset time, and the target (20/s x it x 1.5),
		// swing between about 1 and 9 every two seconds...
		{"quick swings", 40, 40},
		// ... or stay low for 15 s, longer than the shed delay.
		{"slow swings", 300, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rt := newFake()
				rt.createDelay = time.Second
				for i := range tc.low + tc.high {
					rt.resetCycle = append(rt.resetCycle, map[bool]time.Duration{true: 10 * time.Millisecond, false: 300 * time.Millisecond}[i < tc.low])
				}
				cfg := testConfig(1, 12)
				cfg.MaxUses = 1000
				cfg.CreateParallel = 4
				cfg.MaxWaiters = 100
				p := newPool(t, cfg, rt)
				waitReady(t, p)

				g := startLoad(t, p, 50*time.Millisecond, 10*time.Millisecond)
				time.Sleep(30 * time.Second) // the pool grows to the load
				synctest.Wait()
				before := p.Stats()
				time.Sleep(time.Minute)
				synctest.Wait()
				after := p.Stats()
				g.Stop()
				shed := after.Destroyed[pool.ReasonSurplus] - before.Destroyed[pool.ReasonSurplus]
				created := after.Created - before.Created
				t.Logf("in a minute of steady load: %d created, %d shed; idle %d, target %d", created, shed, after.Idle, after.Target)
				if shed != 0 || created != 0 {
					t.Errorf("in a minute of steady load the pool created %d and shed %d sandboxes, want 0 and 0", created, shed)
				}
			})
		})
	}
}

// With reuse, a sandbox is away between jobs for its reset (and a share
// of a create), not a whole create: the idle target follows that
// turnaround, so a pool whose resets are quick stays small under load.
func TestAutosizeFollowsResetTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay, rt.resetDelay = 4*time.Second, 200*time.Millisecond
		cfg := testConfig(1, 50)
		cfg.MaxUses = 100
		p := newPool(t, cfg, rt)
		g := startLoad(t, p, 100*time.Millisecond, 10*time.Millisecond) // 10/s
		time.Sleep(90 * time.Second)
		st := p.Stats()
		g.Stop()
		if st.ResetTime != rt.resetDelay {
			t.Errorf("ResetTime = %v, want %v", st.ResetTime, rt.resetDelay)
		}
		// 10/s x (0.2 s + 4 s / 100) x 1.5 headroom = 3.6 -> 4 (the rate
		// estimate is still rising to 10/s after 90 s, so 3 or 4).
		if st.Target < 3 || st.Target > 4 {
			t.Errorf("Target = %d at 10/s with 200ms resets, want 3..4 (single use would want 60)", st.Target)
		}
	})
}

// A caller waits at most MaxWait for a sandbox, whatever its own deadline,
// and then gets ErrExhausted.
func TestAcquireBoundedByMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay = 10 * time.Second
		cfg := testConfig(1, 1)
		cfg.MaxWait = 250 * time.Millisecond
		p := newPool(t, cfg, rt)
		if err := p.WaitReady(t.Context()); err != nil {
			t.Fatal(err)
		}
		l, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release()
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		_, err = p.Acquire(ctx)
		if !errors.Is(err, pool.ErrExhausted) {
			t.Fatalf("Acquire on a full pool: got %v, want ErrExhausted", err)
		}
		if got := time.Since(start); got != cfg.MaxWait {
			t.Errorf("waited %v, want MaxWait %v", got, cfg.MaxWait)
		}
	})
}

// A sandbox being reset counts as busy and as resetting, not as a job.
func TestStatsResetting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.resetDelay = time.Second
		cfg := testConfig(1, 1)
		cfg.MaxUses = 10
		p := newPool(t, cfg, rt)
		if err := p.WaitReady(t.Context()); err != nil {
			t.Fatal(err)
		}
		l, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.Busy != 1 || st.Resetting != 0 {
			t.Errorf("leased: Busy %d Resetting %d, want 1 0", st.Busy, st.Resetting)
		}
		l.Release()
		time.Sleep(time.Second / 2)
		if st := p.Stats(); st.Busy != 1 || st.Resetting != 1 || st.Idle != 0 {
			t.Errorf("resetting: Busy %d Resetting %d Idle %d, want 1 1 0", st.Busy, st.Resetting, st.Idle)
		}
		time.Sleep(time.Second)
		if st := p.Stats(); st.Busy != 0 || st.Resetting != 0 || st.Idle != 1 {
			t.Errorf("after the reset: Busy %d Resetting %d Idle %d, want 0 0 1", st.Busy, st.Resetting, st.Idle)
		}
	})
}

// TestRecyclesSpread: sandboxes created together and handed out in turn
// reach max_uses together. The pool spreads their recycles out, so that
// their creates do not all run at once (each stalls a real host).
func TestRecyclesSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay, rt.resetDelay = time.Second, 50*time.Millisecond
		cfg := testConfig(8, 8)
		cfg.Autosize = false
		cfg.MaxUses = 100
		cfg.CreateParallel = 8
		p := newPool(t, cfg, rt)
		waitReady(t, p)
		rt.mu.Lock()
		rt.maxInflight = 0 // the first eight were created together
		rt.mu.Unlock()

		g := startLoad(t, p, 25*time.Millisecond, 10*time.Millisecond) // 40/s, 5/s per sandbox
		time.Sleep(40 * time.Second)
		synctest.Wait()
		rt.mu.Lock()
		firstRound := rt.maxInflight
		rt.maxInflight = 0
		rt.mu.Unlock()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		g.Stop()
		s := p.Stats()
		rt.mu.Lock()
		later := rt.maxInflight
		rt.mu.Unlock()
		t.Logf("served %d, recycled %d; creates at once: at most %d in the first 40 s, %d after", g.served.Load(), s.Destroyed[pool.ReasonUsed], firstRound, later)
		// Handed out in turn, all eight go at once (8 and 8). Spread,
		// the first round is half that, and later ones overlap only when
		// a sandbox reaches max_uses while another's create runs.
		if firstRound > 4 || later > 2 {
			t.Errorf("recycle creates at once: %d in the first 40 s, %d after; want <= 4 and <= 2", firstRound, later)
		}
		// Each sandbox serves 75 to 100 jobs: at least served/100 recycles.
		if used, least := s.Destroyed[pool.ReasonUsed], g.served.Load()/100; used < uint64(least) || used > uint64(g.served.Load()/75+1) {
			t.Errorf("%d recycled for %d jobs, want %d to %d (75 to 100 jobs each)", used, g.served.Load(), least, g.served.Load()/75+1)
		}
	})
}
