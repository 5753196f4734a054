package pool

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// waiter is one blocked Acquire. Whoever serves it removes it from
// p.waiters and, in the same critical section, either sends one item on ch
// or closes ch (pool closed). So a waiter still listed has been sent
// nothing, and one no longer listed has exactly one outcome in ch.
type waiter[S Sandbox] struct {
	ch  chan *item[S] // buffered 1
	err error         // set before ch is closed: why (nil: the pool closed)
}

// failed is what a waiter whose ch was closed returns.
func (w *waiter[S]) failed(name string) error {
	if w.err != nil {
		return w.err
	}
	return fmt.Errorf("pool %q: %w", name, ErrClosed)
}

// failWaitersLocked ends every waiter without a sandbox: with err, or
// ErrClosed when err is nil.
func (p *Pool[S]) failWaitersLocked(err error) {
	for _, w := range p.waiters {
		w.err = err
		close(w.ch)
	}
	p.waiters = nil
}

// Acquire leases an idle sandbox, waiting for one to be created or freed at
// most until ctx is done or MaxWait has passed. Waiters are served in arrival order. Errors wrap
// ErrExhausted (with ctx.Err() when ctx ended), ErrUnavailable (creation
// is failing and no sandbox can come: at once, not at the deadline) or
// ErrClosed. Acquire never passes ctx to the runtime: a sandbox created
// for a caller who gave up goes to the next one.
func (p *Pool[S]) Acquire(ctx context.Context) (*Lease[S], error) {
	ctx, span := p.tracer.Start(ctx, "pool.acquire",
		trace.WithAttributes(attribute.String("warmbox.language", p.name)))
	defer span.End()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.MaxWait)
	defer cancel()

	l, err := p.acquire(ctx, start)
	waited := time.Since(start)
	if l != nil {
		waited = l.waited
		span.SetAttributes(attribute.String("warmbox.sandbox.id", l.it.id))
		span.AddLink(trace.Link{SpanContext: l.it.createSpan})
	}
	span.SetAttributes(
		attribute.Bool("warmbox.pool.waited", waited > 0),
		attribute.Float64("warmbox.pool.wait_ms", float64(waited)/float64(time.Millisecond)),
	)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return l, err
}

func (p *Pool[S]) acquire(ctx context.Context, start time.Time) (*Lease[S], error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("pool %q: %w", p.name, ErrClosed)
	}
	p.noteArrivalLocked(start) // every call is demand, served or not
	if err := ctx.Err(); err != nil {
		p.acquireTimeouts++
		p.mu.Unlock()
		return nil, fmt.Errorf("pool %q: %w: %w", p.name, ErrExhausted, err)
	}
	if len(p.idle) == 0 && p.failures > 0 {
		err := p.unavailableLocked()
		p.mu.Unlock()
		return nil, err
	}
	if len(p.idle) > 0 {
		it := p.idle[0]
		p.idle[0] = nil
		p.idle = p.idle[1:]
		p.leaseLocked(it)
		p.acquired++
		p.idleLow = min(p.idleLow, len(p.idle))
		p.settleSlotsLocked() // its slot goes back to the host
		p.mu.Unlock()
		p.kick() // replenish
		return &Lease[S]{p: p, it: it}, nil
	}
	if n := len(p.waiters); n >= p.cfg.maxWaiters() {
		p.acquireTimeouts++
		p.mu.Unlock()
		return nil, fmt.Errorf("pool %q: %w: %d callers already waiting", p.name, ErrExhausted, n)
	}
	w := &waiter[S]{ch: make(chan *item[S], 1)}
	p.waiters = append(p.waiters, w)
	p.settleSlotsLocked() // a create for a waiter needs no slot
	p.mu.Unlock()
	p.kick() // create one for this waiter

	select {
	case it, ok := <-w.ch:
		return p.served(w, it, ok, start)
	case <-ctx.Done():
	}

	p.mu.Lock()
	if p.removeWaiterLocked(w) {
		p.acquireTimeouts++
		p.settleSlotsLocked() // a create for w now needs a slot
		p.mu.Unlock()
		return nil, fmt.Errorf("pool %q: %w: %w", p.name, ErrExhausted, ctx.Err())
	}
	p.mu.Unlock()
	// Served concurrently with ctx ending: the outcome is already in ch.
	it, ok := <-w.ch
	if !ok {
		return nil, w.failed(p.name)
	}
	p.handBack(it)
	return nil, fmt.Errorf("pool %q: %w: %w", p.name, ErrExhausted, ctx.Err())
}

// served turns what a waiter received into Acquire's result.
func (p *Pool[S]) served(w *waiter[S], it *item[S], ok bool, start time.Time) (*Lease[S], error) {
	if !ok {
		return nil, w.failed(p.name)
	}
	p.mu.Lock()
	p.acquired++
	p.mu.Unlock()
	return &Lease[S]{p: p, it: it, waited: time.Since(start)}, nil
}

// removeWaiterLocked removes w if it is still listed (not yet served).
func (p *Pool[S]) removeWaiterLocked(w *waiter[S]) bool {
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// leaseLocked marks an uncounted item as leased.
func (p *Pool[S]) leaseLocked(it *item[S]) {
	it.state = stateLeased
	p.busy++
}

// putLocked makes an uncounted, healthy item available: to the longest
// waiter if there is one, else to the idle list if it fits the idle budget.
// It returns false when it does not fit; the caller then destroys it with
// ReasonSurplus. The pool must be open.
func (p *Pool[S]) putLocked(it *item[S]) bool {
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters[0] = nil
		p.waiters = p.waiters[1:]
		p.leaseLocked(it)
		w.ch <- it // never blocks: buffered 1, one send per waiter
		p.settleSlotsLocked()
		return true
	}
	if !p.idleFitsLocked() {
		return false
	}
	it.state = stateIdle
	p.idle = append(p.idle, it)
	p.checkReadyLocked()
	return true
}

// retireLocked takes an item off the books before it is destroyed and
// accounts for the destroy goroutine (bg.Add). The caller adjusts busy and
// then runs destroyTracked (or destroy, if already in a bg goroutine)
// after unlocking.
func (p *Pool[S]) retireLocked(it *item[S]) {
	delete(p.all, it.id)
	p.destroying++
	p.bg.Add(1)
}

// recycleEarlyLocked reports whether it, released in the last quarter of
// its MaxUses, goes now to spread the pool's recycles out. Sandboxes
// created together are handed out in turn and would all reach MaxUses
// together; their creates, all at once, would stall the host while the
// pool is short of them all. So the first of several sandboxes in their
// last quarter goes early, the next one a create time after the last
// recycle at the soonest (and never while a create runs); a sandbox alone
// there serves MaxUses.
func (p *Pool[S]) recycleEarlyLocked(it *item[S], now time.Time) bool {
	last := p.cfg.MaxUses - p.cfg.MaxUses/4
	if it.uses < last || p.creating > 0 || now.Sub(p.recycledAt) < p.createTime {
		return false
	}
	for _, other := range p.all {
		if other != it && other.uses >= last {
			return true
		}
	}
	return false
}

// handBack returns a leased item that a cancelled waiter received but never
// used: it goes to the next waiter or back to idle, unless it must go.
func (p *Pool[S]) handBack(it *item[S]) {
	p.mu.Lock()
	p.acquireTimeouts++ // the caller gets ErrExhausted
	p.busy--
	reason := it.deadReason
	if reason == "" && p.closed {
		reason = ReasonShutdown
	}
	if reason == "" {
		if p.putLocked(it) {
			p.mu.Unlock()
			return
		}
		reason = ReasonSurplus
	}
	p.retireLocked(it)
	p.checkLeasesDoneLocked()
	p.mu.Unlock()
	go p.destroyTracked(it, reason)
	p.kick()
}

// Lease is one caller's hold on a sandbox. End it with Release or Discard;
// only the first of those calls counts.
type Lease[S Sandbox] struct {
	p      *Pool[S]
	it     *item[S]
	waited time.Duration
	done   atomic.Bool
}

// Sandbox returns the leased sandbox.
func (l *Lease[S]) Sandbox() S { return l.it.s }

// Waited returns how long Acquire waited for a sandbox (0 if one was idle).
func (l *Lease[S]) Waited() time.Duration { return l.waited }

// CreateSpan returns the span context of the background sandbox.create that
// made the sandbox, for a span link.
func (l *Lease[S]) CreateSpan() trace.SpanContext { return l.it.createSpan }

// Release ends a job that ran normally. The sandbox is destroyed when it
// has served MaxUses jobs (ReasonUsed), was evicted (the Evict reason) or
// the pool is closed (ReasonShutdown); otherwise it is reset in the
// background and made available again.
func (l *Lease[S]) Release() {
	if l.done.CompareAndSwap(false, true) {
		l.p.release(l.it, "")
	}
}

// Discard ends the lease and destroys the sandbox in the background; it is
// never reused. Use it when the sandbox was lost or the hand-off failed
// (ReasonUnhealthy, also used when reason is "").
func (l *Lease[S]) Discard(reason DestroyReason) {
	if reason == "" {
		reason = ReasonUnhealthy
	}
	if l.done.CompareAndSwap(false, true) {
		l.p.release(l.it, reason)
	}
}

// release ends a lease: discard is "" for Release, the reason for Discard.
func (p *Pool[S]) release(it *item[S], discard DestroyReason) {
	p.mu.Lock()
	it.uses++
	reason := discard
	switch {
	case reason != "":
	case it.deadReason != "":
		reason = it.deadReason
	case it.uses >= p.cfg.MaxUses, p.recycleEarlyLocked(it, time.Now()):
		reason = ReasonUsed
		p.recycledAt = time.Now()
	case p.closed:
		reason = ReasonShutdown
	}
	if reason == "" {
		it.state = stateResetting // still busy
		p.resetting++
		p.bg.Add(1)
		p.mu.Unlock()
		go p.reset(it)
		return
	}
	p.retireLocked(it)
	p.busy--
	p.checkLeasesDoneLocked()
	p.mu.Unlock()
	go p.destroyTracked(it, reason)
	p.kick() // replace it
}
