package pool_test

import (
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warmbox/warmbox/pool"
)

func TestWarmUp(t *testing.T) {
	for _, tc := range []struct {
		name             string
		minIdle, maxSize int
	}{
		{"no idle", 0, 4},
		{"default", 2, 8},
		{"full", 5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rt := newFake()
				rt.createDelay = 200 * time.Millisecond
				p := newPool(t, testConfig(tc.minIdle, tc.maxSize), rt)
				waitReady(t, p)
				synctest.Wait()
				s := p.Stats()
				if s.Idle != tc.minIdle || s.Created != uint64(tc.minIdle) || s.Creating != 0 {
					t.Errorf("Idle, Created, Creating = %d, %d, %d; want %d, %d, 0",
						s.Idle, s.Created, s.Creating, tc.minIdle, tc.minIdle)
				}
			})
		})
	}
}

func TestSingleUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		p := newPool(t, testConfig(2, 4), rt)
		waitReady(t, p)

		l := mustAcquire(t, p)
		if got := l.Waited(); got != 0 {
			t.Errorf("Waited = %v, want 0 (an idle sandbox was there)", got)
		}
		used := l.Sandbox().ID()
		l.Release()
		l.Release()                     // no effect
		l.Discard(pool.ReasonUnhealthy) // no effect
		synctest.Wait()

		s := p.Stats()
		if got, want := s.Destroyed[pool.ReasonUsed], uint64(1); got != want {
			t.Errorf("Destroyed[used] = %d, want %d", got, want)
		}
		if got := s.Destroyed[pool.ReasonUnhealthy]; got != 0 {
			t.Errorf("Destroyed[unhealthy] = %d, want 0 (Discard after Release)", got)
		}
		if s.Idle != 2 || s.Created != 3 || s.Busy != 0 {
			t.Errorf("Idle, Created, Busy = %d, %d, %d; want 2, 3, 0", s.Idle, s.Created, s.Busy)
		}
		if got := rt.counts().Resets; got != 0 {
			t.Errorf("Resets = %d, want 0 for single use", got)
		}
		for range 2 {
			l := mustAcquire(t, p)
			if l.Sandbox().ID() == used {
				t.Errorf("got used sandbox %s again", used)
			}
			defer l.Release()
		}
	})
}

func TestMaxUses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.resetDelay = 50 * time.Millisecond
		cfg := testConfig(1, 1)
		cfg.MaxUses = 3
		p := newPool(t, cfg, rt)
		waitReady(t, p)

		var first string
		for i := range 3 {
			l := mustAcquire(t, p)
			if i == 0 {
				first = l.Sandbox().ID()
			}
			if got := l.Sandbox().ID(); got != first {
				t.Errorf("use %d: sandbox %s, want %s again", i+1, got, first)
			}
			l.Release()
			synctest.Wait()
			if i < 2 {
				if s := p.Stats(); s.Busy != 1 {
					t.Errorf("use %d: Busy = %d while resetting, want 1", i+1, s.Busy)
				}
			}
			time.Sleep(rt.resetDelay)
			synctest.Wait()
		}
		s := p.Stats()
		if got, want := rt.counts().Resets, 2; got != want {
			t.Errorf("Resets = %d, want %d", got, want)
		}
		if got, want := s.Destroyed[pool.ReasonUsed], uint64(1); got != want {
			t.Errorf("Destroyed[used] = %d, want %d", got, want)
		}
		if s.Idle != 1 || s.Created != 2 {
			t.Errorf("Idle, Created = %d, %d; want 1, 2 (replaced)", s.Idle, s.Created)
		}
	})
}

func TestResetFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.setResetErr(errBoom)
		cfg := testConfig(1, 2)
		cfg.MaxUses = 3
		p := newPool(t, cfg, rt)
		waitReady(t, p)

		l := mustAcquire(t, p)
		id := l.Sandbox().ID()
		l.Release()
		synctest.Wait()

		s := p.Stats()
		if got, want := s.Destroyed[pool.ReasonResetFailed], uint64(1); got != want {
			t.Errorf("Destroyed[reset_failed] = %d, want %d", got, want)
		}
		if s.Idle != 1 || s.Created != 2 {
			t.Errorf("Idle, Created = %d, %d; want 1, 2 (replaced)", s.Idle, s.Created)
		}
		if p.Evict(id, pool.ReasonDied) {
			t.Errorf("Evict(%s) = true after its destroy, want false", id)
		}
	})
}

func TestDiscard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		cfg := testConfig(1, 2)
		cfg.MaxUses = 3
		p := newPool(t, cfg, rt)
		waitReady(t, p)

		l := mustAcquire(t, p)
		l.Discard(pool.ReasonUnhealthy)
		l.Release() // no effect
		synctest.Wait()

		s := p.Stats()
		if got, want := s.Destroyed[pool.ReasonUnhealthy], uint64(1); got != want {
			t.Errorf("Destroyed[unhealthy] = %d, want %d", got, want)
		}
		if got := rt.counts().Resets; got != 0 {
			t.Errorf("Resets = %d, want 0 (discarded, never reused)", got)
		}
		if s.Idle != 1 || s.Busy != 0 {
			t.Errorf("Idle, Busy = %d, %d; want 1, 0", s.Idle, s.Busy)
		}
	})
}

func TestEvict(t *testing.T) {
	t.Run("idle is destroyed and replaced", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rt := newFake()
			p := newPool(t, testConfig(2, 4), rt)
			waitReady(t, p)
			synctest.Wait()

			if !p.Evict("sb-1", pool.ReasonDied) {
				t.Fatalf("Evict(sb-1) = false, want true")
			}
			synctest.Wait()
			s := p.Stats()
			if got, want := s.Destroyed[pool.ReasonDied], uint64(1); got != want {
				t.Errorf("Destroyed[died] = %d, want %d", got, want)
			}
			if s.Idle != 2 || s.Created != 3 {
				t.Errorf("Idle, Created = %d, %d; want 2, 3", s.Idle, s.Created)
			}
			if p.Evict("sb-1", pool.ReasonDied) {
				t.Errorf("second Evict(sb-1) = true, want false")
			}
		})
	})
	t.Run("leased is destroyed on release", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rt := newFake()
			cfg := testConfig(1, 2)
			cfg.MaxUses = 5
			p := newPool(t, cfg, rt)
			waitReady(t, p)

			l := mustAcquire(t, p)
			if !p.Evict(l.Sandbox().ID(), pool.ReasonDied) {
				t.Fatalf("Evict(leased) = false, want true")
			}
			synctest.Wait()
			if got := p.Stats().Destroyed[pool.ReasonDied]; got != 0 {
				t.Errorf("Destroyed[died] = %d before Release, want 0", got)
			}
			l.Release()
			synctest.Wait()
			s := p.Stats()
			if got, want := s.Destroyed[pool.ReasonDied], uint64(1); got != want {
				t.Errorf("Destroyed[died] = %d, want %d", got, want)
			}
			if got := rt.counts().Resets; got != 0 {
				t.Errorf("Resets = %d, want 0 (dead sandbox not reset)", got)
			}
		})
	})
	t.Run("unknown id", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := newPool(t, testConfig(1, 2), newFake())
			if p.Evict("nope", pool.ReasonDied) {
				t.Errorf("Evict(nope) = true, want false")
			}
		})
	})
}

func TestExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		cfg := testConfig(2, 4)
		cfg.MaxLifetime = time.Minute
		p := newPool(t, cfg, rt)
		waitReady(t, p)

		time.Sleep(cfg.MaxLifetime - time.Second)
		synctest.Wait()
		if got := p.Stats().Destroyed[pool.ReasonExpired]; got != 0 {
			t.Fatalf("Destroyed[expired] = %d before MaxLifetime, want 0", got)
		}
		time.Sleep(2 * time.Second) // past MaxLifetime and a maintainer tick
		synctest.Wait()
		s := p.Stats()
		if got, want := s.Destroyed[pool.ReasonExpired], uint64(2); got != want {
			t.Errorf("Destroyed[expired] = %d, want %d", got, want)
		}
		if s.Idle != 2 || s.Created != 4 {
			t.Errorf("Idle, Created = %d, %d; want 2, 4", s.Idle, s.Created)
		}
	})
}

func TestStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay = time.Second
		rt.destroyDelay = time.Second
		cfg := testConfig(2, 4)
		p := newPool(t, cfg, rt)
		waitReady(t, p)
		l := mustAcquire(t, p)
		synctest.Wait() // the replacement create is in flight

		if got, want := p.Name(), "python"; got != want {
			t.Errorf("Name() = %q, want %q", got, want)
		}
		got := p.Stats()
		// One call over a 20 s time constant: 0.05/s, decaying.
		// One Acquire: the fast estimate (2 s time constant) leads with
		// 0.5/s, decaying (0.30/s a second later); the slow one holds 0.05.
		checkRate := func(s pool.Stats, lo, hi float64) float64 {
			t.Helper()
			if s.ArrivalRate <= lo || s.ArrivalRate > hi {
				t.Errorf("ArrivalRate = %v, want in (%v, %v] after one Acquire", s.ArrivalRate, lo, hi)
			}
			return s.ArrivalRate
		}
		want := pool.Stats{
			Name: "python", Idle: 1, Busy: 1, Creating: 1,
			Target: 2, MinIdle: 2, MaxSize: 4, MaxUses: 1,
			ArrivalRate: checkRate(got, 0.45, 0.5), CreateTime: rt.createDelay,
			Acquired: 1, Created: 2,
			Destroyed: map[pool.DestroyReason]uint64{},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Stats() after one Acquire:\n got %+v\nwant %+v", got, want)
		}

		l.Release()
		synctest.Wait()
		s := p.Stats()
		if s.Destroying != 1 || s.Busy != 0 {
			t.Errorf("Destroying, Busy = %d, %d; want 1, 0", s.Destroying, s.Busy)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		s = p.Stats()
		want = pool.Stats{
			Name: "python", Idle: 2,
			Target: 2, MinIdle: 2, MaxSize: 4, MaxUses: 1,
			ArrivalRate: checkRate(s, 0.25, 0.31), CreateTime: rt.createDelay,
			Acquired: 1, Created: 3,
			Destroyed: map[pool.DestroyReason]uint64{pool.ReasonUsed: 1},
		}
		if !reflect.DeepEqual(s, want) {
			t.Errorf("Stats() settled:\n got %+v\nwant %+v", s, want)
		}
	})
}

func TestDestroyFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.setDestroyErr(errBoom)
		obs := &recorder{}
		logs := &logBuffer{}
		p := newPool(t, testConfig(1, 2), rt, poolOpts{obs: obs, log: logs})
		waitReady(t, p)

		mustAcquire(t, p).Release()
		synctest.Wait()
		s := p.Stats()
		if got := s.Destroyed[pool.ReasonUsed]; got != 1 || s.Destroying != 0 {
			t.Errorf("Destroyed[used], Destroying = %d, %d; want 1, 0 (failed attempts count)", got, s.Destroying)
		}
		if got := logs.count("sandbox destroy failed"); got != 1 {
			t.Errorf("logged %d destroy failures, want 1", got)
		}
		obs.mu.Lock()
		if obs.destroyFailed != 1 {
			t.Errorf("Observer saw %d failed destroys, want 1", obs.destroyFailed)
		}
		obs.mu.Unlock()
		if s.Idle != 1 {
			t.Errorf("Idle = %d, want 1 (replaced)", s.Idle)
		}
	})
}
