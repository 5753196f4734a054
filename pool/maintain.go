package pool

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Create backoff: 100 ms doubling up to 30 s, with equal jitter (each delay
// is drawn from [d/2, d]).
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 30 * time.Second
)

// maintain is the pool's one maintainer goroutine. It wakes on its ticker,
// on kick, and when a create backoff ends, until Close.
func (p *Pool[S]) maintain() {
	defer close(p.maintDone)
	tick := time.NewTicker(maintainInterval)
	defer tick.Stop()
	wake := time.NewTimer(maintainInterval)
	defer wake.Stop()
	for {
		if d := p.maintainOnce(time.Now()); d > 0 {
			wake.Reset(d)
		}
		select {
		case <-p.closing:
			return
		case <-tick.C:
		case <-p.trigger:
		case <-wake.C:
		}
	}
}

// maintainOnce replaces expired idle sandboxes, destroys a surplus one,
// tells the host what the pool would like and starts the creates the pool
// needs. It returns how long until a create backoff ends (0 if none).
func (p *Pool[S]) maintainOnce(now time.Time) time.Duration {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0
	}
	expired := p.expireLocked(now)
	target := p.targetLocked(now)
	if p.failures > 0 {
		p.host.setWant(p.member, 0) // cannot use budget while creates fail
	} else {
		p.host.setWant(p.member, target-p.cfg.MinIdle)
	}
	surplus := p.shedLocked(now, target)
	p.settleSlotsLocked()
	n, wait := p.planCreatesLocked(now, target)
	p.mu.Unlock()

	for _, it := range expired {
		go p.destroyTracked(it, ReasonExpired)
	}
	if surplus != nil {
		go p.destroyTracked(surplus, ReasonSurplus)
	}
	for range n {
		go p.create()
	}
	return wait
}

// expireLocked retires idle sandboxes that have outlived MaxLifetime.
func (p *Pool[S]) expireLocked(now time.Time) []*item[S] {
	if p.cfg.MaxLifetime <= 0 {
		return nil
	}
	var expired []*item[S]
	kept := p.idle[:0]
	for _, it := range p.idle {
		if p.expiredLocked(it, now) {
			p.retireLocked(it)
			expired = append(expired, it)
			continue
		}
		kept = append(kept, it)
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	if len(expired) > 0 {
		p.settleSlotsLocked()
	}
	return expired
}

// expiredLocked reports whether it has outlived MaxLifetime.
func (p *Pool[S]) expiredLocked(it *item[S], now time.Time) bool {
	return p.cfg.MaxLifetime > 0 && now.Sub(it.createdAt) >= p.cfg.MaxLifetime
}

// planCreatesLocked decides how many creates to start now and accounts for
// them. It keeps Idle+Creating+Resetting >= target+Waiting, within MaxSize,
// CreateParallel and the idle budget; while degraded it probes with one
// create at a time after the backoff ends, even for a target of 0.
func (p *Pool[S]) planCreatesLocked(now time.Time, target int) (n int, wait time.Duration) {
	if now.Before(p.backoffUntil) {
		return 0, p.backoffUntil.Sub(now)
	}
	// A sandbox being reset comes back in a moment, like one being
	// created: counting it keeps a reused pool from creating a sandbox
	// it will shed as surplus right after.
	want := target + len(p.waiters) - len(p.idle) - p.creating - p.resetting
	room := p.cfg.MaxSize - len(p.idle) - p.busy - p.creating
	parallel := p.cfg.CreateParallel
	if p.failures > 0 {
		parallel = 1
		// Probe whatever the target: while degraded, callers are refused
		// at once and never wait, so no demand would ask for a create.
		want = max(want, 1-len(p.idle)-p.creating)
	}
	n = max(0, min(want, room, parallel-p.creating))
	n = p.budgetCreatesLocked(n)
	p.creating += n
	p.bg.Add(n)
	return n, 0
}

// create waits for a host create slot, makes one sandbox under the pool's
// context, in its own root span, and hands it to a waiter or the idle list
// (or destroys it when it fits neither).
func (p *Pool[S]) create() {
	defer p.bg.Done()
	queued := time.Now()
	if err := p.host.acquireCreate(p.ctx); err != nil {
		p.createFailed(err) // only Close ends p.ctx: not counted
		return
	}
	ctx, span := p.tracer.Start(p.ctx, "sandbox.create", trace.WithNewRoot(),
		trace.WithAttributes(attribute.String("warmbox.language", p.name)))
	ctx, cancel := context.WithTimeout(ctx, createTimeout)
	start := time.Now()
	span.SetAttributes(attribute.Float64("warmbox.pool.create_queue_ms", float64(start.Sub(queued))/float64(time.Millisecond)))
	s, err := p.rt.Create(ctx)
	cancel()
	p.host.releaseCreate()
	d := time.Since(start)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetAttributes(attribute.String("warmbox.sandbox.id", s.ID()))
	}
	span.End()
	cancelled := err != nil && p.ctx.Err() != nil // by Close: not a failure
	if p.obs != nil && !cancelled {
		p.obs.Created(p.name, d, err)
	}

	if err != nil {
		p.createFailed(err)
		return
	}
	it := &item[S]{s: s, id: s.ID(), createdAt: time.Now(), createSpan: span.SpanContext()}
	p.mu.Lock()
	p.creating--
	p.created++
	p.noteCreateTimeLocked(d)
	// Only a create begun after the last failure proves its cause gone:
	// one begun before (say, before the image was removed) may succeed
	// after later ones failed.
	recovered := 0
	if start.After(p.failedAt) {
		recovered = p.failures
		p.failures, p.lastErr, p.backoffUntil = 0, "", time.Time{}
	}
	if p.closed {
		p.destroying++ // destroyed right here, still tracked by bg
		p.mu.Unlock()
		p.destroy(it, ReasonShutdown)
		return
	}
	p.all[it.id] = it
	fits := p.putLocked(it)
	if !fits { // a waiter left meanwhile and no budget slot is free
		delete(p.all, it.id)
		p.destroying++ // destroyed right here, still tracked by bg
	}
	p.mu.Unlock()
	if recovered > 0 {
		p.logger.Info("sandbox create recovered", "failures", recovered)
	}
	p.kick() // more may be needed, and a create slot is free
	if !fits {
		p.destroy(it, ReasonSurplus)
	}
}

// createFailed records a failed create and schedules the next attempt after
// an exponential backoff. It logs once per backoff step.
func (p *Pool[S]) createFailed(err error) {
	p.mu.Lock()
	p.creating--
	if p.closed { // cancelled by Close: not a health problem
		p.mu.Unlock()
		return
	}
	p.settleSlotsLocked()
	p.createFailures++
	p.failures++
	p.failedAt = time.Now()
	failures := p.failures
	delay := backoffDelay(failures)
	p.backoffUntil = time.Now().Add(delay)
	p.lastErr = err.Error()
	// Nothing idle, nothing being created and nothing a reset gives back:
	// the waiters would wait out the backoff for a sandbox that may never
	// come. They learn it now, as later callers do in acquire.
	if p.creating == 0 && (p.cfg.MaxUses == 1 || p.busy == 0) {
		p.failWaitersLocked(p.unavailableLocked())
	}
	p.mu.Unlock()
	p.logger.Warn("sandbox create failed", "err", err, "failures", failures, "retry_in", delay)
	p.kick() // so the maintainer sets its wake-up timer
}

// backoffDelay returns the delay after the n-th consecutive failure (n >= 1).
func backoffDelay(n int) time.Duration {
	d := backoffMax
	if n <= 20 { // 100ms<<20 is far above the cap; avoids overflow
		d = min(backoffMin<<(n-1), backoffMax)
	}
	return d/2 + rand.N(d/2+1)
}

// reset readies a released sandbox for its next job (MaxUses > 1) and makes
// it available again, or destroys it if reset failed, it was evicted
// meanwhile, it expired or the pool closed.
func (p *Pool[S]) reset(it *item[S]) {
	defer p.bg.Done()
	ctx, span := p.tracer.Start(p.ctx, "sandbox.reset", trace.WithNewRoot(),
		trace.WithAttributes(
			attribute.String("warmbox.language", p.name),
			attribute.String("warmbox.sandbox.id", it.id),
		))
	ctx, cancel := context.WithTimeout(ctx, resetTimeout)
	start := time.Now()
	err := p.rt.Reset(ctx, it.s)
	took := time.Since(start)
	cancel()
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()

	p.mu.Lock()
	var reason DestroyReason
	switch {
	case it.deadReason != "":
		reason = it.deadReason
	case p.closed:
		reason = ReasonShutdown
	case err != nil:
		reason = ReasonResetFailed
	case p.expiredLocked(it, time.Now()):
		reason = ReasonExpired
	}
	p.busy--
	p.resetting--
	if err == nil {
		p.noteResetTimeLocked(took)
	}
	if reason == "" {
		if p.putLocked(it) {
			p.mu.Unlock()
			return
		}
		reason = ReasonSurplus // the idle budget has no room for it
	}
	delete(p.all, it.id)
	p.destroying++ // destroyed right here, still tracked by bg
	p.checkLeasesDoneLocked()
	p.mu.Unlock()
	if reason == ReasonResetFailed {
		p.logger.Warn("sandbox reset failed", "sandbox", it.id, "err", err)
	}
	p.kick() // replace it
	p.destroy(it, reason)
}

// destroyTracked runs destroy in a goroutine accounted for by retireLocked.
func (p *Pool[S]) destroyTracked(it *item[S], reason DestroyReason) {
	defer p.bg.Done()
	p.destroy(it, reason)
}

// destroy removes a sandbox with its own timeout, even after Close, and
// settles the destroying count that the caller raised.
func (p *Pool[S]) destroy(it *item[S], reason DestroyReason) {
	ctx, span := p.tracer.Start(context.Background(), "sandbox.destroy", trace.WithNewRoot(),
		trace.WithAttributes(
			attribute.String("warmbox.language", p.name),
			attribute.String("warmbox.sandbox.id", it.id),
			attribute.String("warmbox.destroy.reason", string(reason)),
		))
	ctx, cancel := context.WithTimeout(ctx, destroyTimeout)
	start := time.Now()
	err := p.rt.Destroy(ctx, it.s)
	cancel()
	d := time.Since(start)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		p.logger.Warn("sandbox destroy failed", "sandbox", it.id, "reason", string(reason), "err", err)
	}
	span.End()
	if p.obs != nil {
		p.obs.Destroyed(p.name, reason, d, err)
	}
	p.mu.Lock()
	p.destroying--
	p.destroyed[reason]++
	p.mu.Unlock()
}

// unavailableLocked is ErrUnavailable with the pool's name and last
// create error.
func (p *Pool[S]) unavailableLocked() error {
	return fmt.Errorf("pool %q: %w: %s", p.name, ErrUnavailable, p.lastErr)
}
