package policy

import (
	"sync"
	"testing"
)

func TestConcurrency(t *testing.T) {
	c := NewConcurrency(2)
	d1, ok1 := c.Acquire("a")
	d2, ok2 := c.Acquire("a")
	if !ok1 || !ok2 {
		t.Fatal("the first two executions of a client must be admitted")
	}
	if _, ok := c.Acquire("a"); ok {
		t.Error("a third execution in flight was admitted past the cap of 2")
	}
	if _, ok := c.Acquire("b"); !ok {
		t.Error("another client was refused: the cap is per client")
	}
	d1()
	d1() // a second call changes nothing
	if got := c.InFlight("a"); got != 1 {
		t.Errorf("in flight after one done (called twice) = %d, want 1", got)
	}
	d3, ok := c.Acquire("a")
	if !ok {
		t.Error("a slot freed by done was not given again")
	}
	d2()
	d3()
	if got := len(c.inflight); got != 1 { // only b's
		t.Errorf("%d clients remembered, want 1: entries must go at 0", got)
	}
}

func TestConcurrencyOff(t *testing.T) {
	for _, c := range []*Concurrency{nil, NewConcurrency(0)} {
		for range 100 {
			if _, ok := c.Acquire("a"); !ok {
				t.Fatal("refused with no cap")
			}
		}
	}
}

func TestConcurrencyRace(t *testing.T) {
	c := NewConcurrency(3)
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak, now := 0, 0
	for range 50 {
		wg.Go(func() {
			for range 100 {
				done, ok := c.Acquire("x")
				if !ok {
					continue
				}
				mu.Lock()
				now++
				peak = max(peak, now)
				mu.Unlock()
				mu.Lock()
				now--
				mu.Unlock()
				done()
			}
		})
	}
	wg.Wait()
	if peak > 3 {
		t.Errorf("peak in flight %d, want at most the cap 3", peak)
	}
	if c.InFlight("x") != 0 || len(c.inflight) != 0 {
		t.Errorf("left %d in flight, %d entries", c.InFlight("x"), len(c.inflight))
	}
}
