package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// Sandbox is one pooled resource (a container).
type Sandbox interface{ ID() string }

// Runtime creates, resets and destroys sandboxes. The Docker adapter
// and the Kubernetes adapter implement it. Create must clean up after itself
// when it returns an error. The pool calls each method with a context that
// carries its own timeout, never a request's context.
type Runtime[S Sandbox] interface {
	Create(ctx context.Context) (S, error)
	// Reset readies a used sandbox for its next job. It is called only
	// when MaxUses > 1; an error destroys the sandbox.
	Reset(ctx context.Context, s S) error
	Destroy(ctx context.Context, s S) error
}

// DestroyReason says why a sandbox was destroyed.
type DestroyReason string

// Destroy reasons, used in Stats.Destroyed and reported to the Observer.
const (
	ReasonUsed        DestroyReason = "used"         // reached MaxUses
	ReasonResetFailed DestroyReason = "reset_failed" // Reset returned an error
	ReasonExpired     DestroyReason = "expired"      // idle longer than MaxLifetime allows
	ReasonDied        DestroyReason = "died"         // noticed dead from outside (Evict)
	ReasonUnhealthy   DestroyReason = "unhealthy"    // caller discarded it
	ReasonShutdown    DestroyReason = "shutdown"     // pool closed
	ReasonSurplus     DestroyReason = "surplus"      // more idle than the target or the idle budget allows
)

// Sentinel errors; Acquire wraps them.
var (
	ErrClosed    = errors.New("pool closed")
	ErrExhausted = errors.New("no sandbox available") // Acquire's ctx ended first, or too many waiters
	// ErrUnavailable: creation is failing (the pool is degraded) and no
	// sandbox is idle, so none can be promised; the message names the
	// last create error.
	ErrUnavailable = errors.New("sandboxes cannot be created")
)

// Observer receives timings; telemetry implements it so that the pool never
// imports Prometheus. Calls come from background goroutines and must not
// block.
type Observer interface {
	// Created is called after every create attempt.
	Created(pool string, d time.Duration, err error)
	// Destroyed is called after every destroy attempt.
	Destroyed(pool string, reason DestroyReason, d time.Duration, err error)
}

// Timeouts of background runtime calls and the maintainer's period.
const (
	createTimeout    = 30 * time.Second
	resetTimeout     = 30 * time.Second
	destroyTimeout   = 30 * time.Second
	maintainInterval = time.Second
	// shedDelay is how long more than the target must have stayed idle,
	// window after window, before the pool sheds for lack of demand. The
	// target moves with every reset's duration; a pool that shed as soon
	// as one window had a spare sandbox created it again seconds later
	// (16 creates and 15 surplus destroys in 25 s at a steady 25 python
	// jobs/s here), and a sandbox's create, start and remove cost the
	// engine about 0.5 s of CPU, a dozen warm python jobs.
	shedDelay = 10 * time.Second
	// peakHold is how long the highest idle target counts for shedding:
	// the target follows each reset's duration, which on a loaded host
	// swings for tens of seconds at a time, and a sandbox shed during a
	// low swing is created again at the next high one.
	peakHold = time.Minute
)

// Pool is a warm pool of sandboxes for one language. It is safe for
// concurrent use. Create one with [New] and end it with [Pool.Close].
type Pool[S Sandbox] struct {
	name   string
	cfg    Config
	rt     Runtime[S]
	obs    Observer // may be nil
	logger *slog.Logger
	tracer trace.Tracer
	host   *Host   // shared limits; a private unlimited one by default
	member *member // this pool's account at host

	// ctx is the pool's own context: creates and resets run under it, and
	// Close cancels it. Destroys do not use it, so they survive Close.
	ctx    context.Context
	cancel context.CancelFunc

	trigger   chan struct{} // buffered 1: wakes the maintainer, coalescing
	closing   chan struct{} // closed by the first Close: stops the maintainer
	maintDone chan struct{} // closed when the maintainer has returned
	ready     chan struct{} // closed the first time Idle >= MinIdle
	drained   chan struct{} // closed when Close has finished its work

	// bg tracks every create, reset and destroy goroutine. Add is called
	// under mu, before the state change that could let Close's drain pass
	// leasesDone, so Wait never races with an Add from a zero count.
	bg sync.WaitGroup

	mu sync.Mutex
	// The fields below are guarded by mu.
	closed     bool
	idle       []*item[S]          // oldest first; handed out from the front
	all        map[string]*item[S] // idle, leased and resetting sandboxes by ID
	busy       int                 // leased + resetting
	resetting  int                 // of busy, being reset
	creating   int                 // creates in flight
	destroying int                 // destroys in flight
	waiters    []*waiter[S]        // FIFO; a waiter is listed until it is served
	isReady    bool                // ready has been closed
	leasesDone chan struct{}       // set by Close; closed when closed && busy == 0
	// Creation health.
	failures     int       // consecutive create failures; > 0 means degraded
	lastErr      string    // message of the last create error
	failedAt     time.Time // when the last create failed
	backoffUntil time.Time // no create starts before this
	// Sizing (size.go).
	rate       float64       // smoothed Acquire calls per second as of rateAt
	rateFast   float64       // the same with the fast time constant (attackTau)
	rateAt     time.Time     // last Acquire call; zero before the first
	createTime time.Duration // smoothed successful create duration; 0 before the first
	resetTime  time.Duration // smoothed successful reset duration; 0 before the first
	slots      int           // idle-budget slots held from host (0 once closed)
	shedWindow time.Time     // start of the current surplus window
	idleLow    int           // fewest idle by Acquire in the window
	// targetPeak is the highest target since targetPeakAt, at most
	// peakHold ago; it is what a surplus is measured against.
	targetPeak   int
	targetPeakAt time.Time
	// surplusSince is the end of the first of the consecutive windows
	// through which more than targetPeak stayed idle; zero when the last
	// window had none to spare.
	surplusSince time.Time
	recycledAt   time.Time // last retirement for MaxUses (acquire.go)
	// Counters for Stats.
	acquired        uint64
	acquireTimeouts uint64
	created         uint64
	createFailures  uint64
	destroyed       map[DestroyReason]uint64
}

// item is the pool's record of one sandbox.
type item[S Sandbox] struct {
	s          S
	id         string
	createdAt  time.Time // time.Now at the end of Create: monotonic
	createSpan trace.SpanContext
	// Guarded by the pool's mu.
	uses       int
	state      itemState
	deadReason DestroyReason // set by Evict while leased or resetting
}

type itemState uint8

const (
	stateIdle itemState = iota
	stateLeased
	stateResetting
)

// New validates cfg and starts the pool's maintainer, which begins creating
// sandboxes at once. obs may be nil; a nil logger discards logs. Options
// may share a [Host] between pools ([WithHost]).
func New[S Sandbox](name string, cfg Config, rt Runtime[S], obs Observer, logger *slog.Logger, opts ...Option) (*Pool[S], error) {
	if name == "" {
		return nil, errors.New("pool: name must not be empty")
	}
	if rt == nil {
		return nil, fmt.Errorf("pool %q: runtime must not be nil", name)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pool %q: %w", name, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.host == nil {
		o.host = NewHost(HostConfig{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool[S]{
		name:      name,
		cfg:       cfg,
		rt:        rt,
		obs:       obs,
		logger:    logger.With("pool", name),
		tracer:    otel.Tracer("warmbox/pool"),
		ctx:       ctx,
		cancel:    cancel,
		trigger:   make(chan struct{}, 1),
		closing:   make(chan struct{}),
		maintDone: make(chan struct{}),
		ready:     make(chan struct{}),
		drained:   make(chan struct{}),
		all:       make(map[string]*item[S]),
		destroyed: make(map[DestroyReason]uint64),
		host:      o.host,
	}
	p.member = p.host.join(p.kick)
	p.mu.Lock()
	p.checkReadyLocked() // MinIdle 0 is ready at once
	p.mu.Unlock()
	go p.maintain()
	return p, nil
}

// Name returns the pool's name (its language).
func (p *Pool[S]) Name() string { return p.name }

// Stats is a value snapshot of a pool.
type Stats struct {
	Name string
	// Busy counts leased sandboxes and those being reset after a job;
	// Resetting the latter alone (Busy - Resetting jobs are running).
	Idle, Busy, Resetting, Creating, Destroying, Waiting int
	// Target is the live idle target: what the maintainer keeps idle or
	// creating besides the waiters, from MinIdle to MaxSize.
	Target, MinIdle, MaxSize, MaxUses int
	// ArrivalRate is the smoothed rate of Acquire calls per second (0
	// below one a minute); CreateTime and ResetTime the smoothed
	// durations of a successful create and reset (0 before the first).
	ArrivalRate float64
	CreateTime  time.Duration
	ResetTime   time.Duration
	// BudgetHeld counts the host idle-budget slots the pool holds: its
	// idle sandboxes and creates beyond MinIdle and the waiters.
	BudgetHeld int
	// AcquireTimeouts counts Acquire calls that failed with ErrExhausted:
	// their ctx ended first, or too many callers were waiting.
	Acquired, AcquireTimeouts, Created, CreateFailures uint64
	// Destroyed counts finished destroy attempts (failed ones included).
	Destroyed map[DestroyReason]uint64
	// Degraded is true while creation is failing and backing off.
	Degraded     bool
	LastError    string // the last create error, "" when healthy
	BackoffUntil time.Time
}

// Stats returns a snapshot of the pool's state and counters.
func (p *Pool[S]) Stats() Stats {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Name:            p.name,
		Idle:            len(p.idle),
		Busy:            p.busy,
		Resetting:       p.resetting,
		Creating:        p.creating,
		Destroying:      p.destroying,
		Waiting:         len(p.waiters),
		Target:          p.targetLocked(now),
		MinIdle:         p.cfg.MinIdle,
		MaxSize:         p.cfg.MaxSize,
		MaxUses:         p.cfg.MaxUses,
		ArrivalRate:     p.arrivalRateLocked(now),
		CreateTime:      p.createTime,
		ResetTime:       p.resetTime,
		BudgetHeld:      p.slots,
		Acquired:        p.acquired,
		AcquireTimeouts: p.acquireTimeouts,
		Created:         p.created,
		CreateFailures:  p.createFailures,
		Destroyed:       maps.Clone(p.destroyed),
		Degraded:        p.failures > 0,
		LastError:       p.lastErr,
		BackoffUntil:    p.backoffUntil,
	}
}

// Evict reports that a sandbox died from outside. An idle one is removed,
// destroyed in the background and replaced; a leased one (or one being
// reset) is marked so that it is destroyed instead of reused. Evict returns
// whether the pool knew the id. An empty reason means ReasonDied.
func (p *Pool[S]) Evict(id string, reason DestroyReason) bool {
	if reason == "" {
		reason = ReasonDied
	}
	p.mu.Lock()
	it, ok := p.all[id]
	if !ok {
		p.mu.Unlock()
		return false
	}
	if it.state != stateIdle {
		it.deadReason = reason
		p.mu.Unlock()
		return true
	}
	p.removeIdleLocked(it)
	p.retireLocked(it)
	p.settleSlotsLocked()
	p.mu.Unlock()
	go p.destroyTracked(it, reason)
	p.kick()
	return true
}

// removeIdleLocked takes it out of the idle list, keeping the order.
func (p *Pool[S]) removeIdleLocked(it *item[S]) {
	for i, x := range p.idle {
		if x == it {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			return
		}
	}
}

// WaitReady blocks until the pool has held MinIdle idle sandboxes once, ctx
// ends, or the pool closes.
func (p *Pool[S]) WaitReady(ctx context.Context) error {
	select {
	case <-p.ready: // checked first: once ready, always ready
		return nil
	default:
	}
	select {
	case <-p.ready:
		return nil
	case <-p.closing:
		return fmt.Errorf("pool %q: %w", p.name, ErrClosed)
	case <-ctx.Done():
		if last := p.Stats().LastError; last != "" {
			return fmt.Errorf("pool %q not ready (last create error: %s): %w", p.name, last, ctx.Err())
		}
		return fmt.Errorf("pool %q not ready: %w", p.name, ctx.Err())
	}
}

// checkReadyLocked closes ready the first time Idle reaches MinIdle.
func (p *Pool[S]) checkReadyLocked() {
	if !p.isReady && len(p.idle) >= p.cfg.MinIdle {
		p.isReady = true
		close(p.ready)
	}
}

// Close shuts the pool down. It fails current and future Acquire calls
// with ErrClosed, stops the maintainer, gives its idle-budget slots back to
// the Host, cancels creates in flight (their results are destroyed),
// destroys idle sandboxes, waits for outstanding
// leases to end and destroys them, and returns when every background
// goroutine has finished. If ctx ends first, Close returns ctx.Err() and the
// remaining work goes on in the background (leases are still destroyed when
// they end). Close is idempotent and safe to call concurrently; every call
// waits the same way.
func (p *Pool[S]) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closing)
		p.cancel()
		p.failWaitersLocked(nil) // ErrClosed
		idle := p.idle
		p.idle = nil
		for _, it := range idle {
			p.retireLocked(it)
		}
		p.host.leave(p.member) // gives back every slot
		p.slots = 0
		p.leasesDone = make(chan struct{})
		p.checkLeasesDoneLocked()
		p.mu.Unlock()
		for _, it := range idle {
			go p.destroyTracked(it, ReasonShutdown)
		}
		go p.drain()
	} else {
		p.mu.Unlock()
	}
	select {
	case <-p.drained:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pool %q: close: %w", p.name, ctx.Err())
	}
}

// drain runs once, after Close has set closed: it waits for leases, the
// maintainer and every background goroutine, then closes drained.
func (p *Pool[S]) drain() {
	<-p.leasesDone
	<-p.maintDone
	p.bg.Wait()
	close(p.drained)
}

// checkLeasesDoneLocked closes leasesDone once the pool is closed and no
// sandbox is leased or resetting. Call it after any bg.Add of the same
// critical section.
func (p *Pool[S]) checkLeasesDoneLocked() {
	if p.closed && p.busy == 0 && p.leasesDone != nil {
		select {
		case <-p.leasesDone:
		default:
			close(p.leasesDone)
		}
	}
}

// kick wakes the maintainer without blocking; wakes coalesce.
func (p *Pool[S]) kick() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}
