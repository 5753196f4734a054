package dispatch

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/warmbox/warmbox/pool"
	"github.com/warmbox/warmbox/sandbox"
)

// Session errors callers map to responses.
var (
	// ErrNoSession: no open session has that id (never opened, closed,
	// expired, or ended).
	ErrNoSession = errors.New("no such session")
	// ErrSessionBusy: the session is running another cell; cells of one
	// session run one at a time.
	ErrSessionBusy = errors.New("the session is running another cell")
	// ErrSessionsPerClient: the caller has as many open sessions as one
	// client may.
	ErrSessionsPerClient = errors.New("too many open sessions for this client")
	// ErrSessionsFull: the daemon has as many open sessions as it allows.
	ErrSessionsFull = errors.New("too many open sessions")
	// ErrSessionsOff: sessions are disabled (sessions.max is 0), or the
	// language is not pre-started and so has no session interpreter.
	ErrSessionsOff = errors.New("sessions are not available")
)

// SessionConfig bounds sessions: each holds a sandbox of its language's
// pool for as long as it is open.
type SessionConfig struct {
	Max          int           // open at once, all clients; 0: sessions are off
	MaxPerClient int           // open at once for one client
	IdleTTL      time.Duration // a session unused this long is closed (default)
	MaxIdleTTL   time.Duration // the longest idle TTL a caller may ask for
	MaxLifetime  time.Duration // a session is closed this long after it opened, used or not
}

// SessionInfo describes an open session.
type SessionInfo struct {
	ID       string
	Language string
	Owner    string // the client that opened it (its rate-limit key)
	Created  time.Time
	LastUsed time.Time
	IdleTTL  time.Duration
	// ExpiresAt is when it closes unless used before: LastUsed+IdleTTL,
	// at most Created+MaxLifetime.
	ExpiresAt time.Time
	// RunTimeout is the timeout of a run that names none (0: the
	// language's), as its opener asked.
	RunTimeout time.Duration
	Runs       int
	Running    bool
}

// session is an open session: a sandbox leased to one caller.
type session[S pool.Sandbox] struct {
	lang  *served[S]
	lease *pool.Lease[S]
	limit time.Time // Created + MaxLifetime

	mu     sync.Mutex // guards info, timer, cancel, closed
	info   SessionInfo
	timer  *time.Timer
	cancel context.CancelFunc // ends the running cell's hand-off
	closed bool

	running sync.Mutex // held while a cell runs
}

// sessions is the dispatcher's registry of open sessions.
type sessions[S pool.Sandbox] struct {
	cfg SessionConfig

	mu       sync.Mutex
	open     map[string]*session[S]
	reserved map[string]int // per owner: open plus being opened
	total    int            // open plus being opened
	shutdown bool
}

// ConfigureSessions sets the session bounds; before serving.
func (d *Dispatcher[S]) ConfigureSessions(cfg SessionConfig) {
	d.sess.mu.Lock()
	defer d.sess.mu.Unlock()
	d.sess.cfg = cfg
}

// SessionConfig returns the session bounds.
func (d *Dispatcher[S]) SessionConfig() SessionConfig {
	d.sess.mu.Lock()
	defer d.sess.mu.Unlock()
	return d.sess.cfg
}

// OpenSession leases a sandbox of language to owner as a session and
// starts its session interpreter, waiting for a sandbox as Execute does.
// ttl is the idle TTL asked for (0: the default), runTimeout the default
// timeout of its runs (0: the language's); the caller has checked both
// against their bounds.
func (d *Dispatcher[S]) OpenSession(ctx context.Context, language, owner string, ttl, runTimeout time.Duration) (SessionInfo, error) {
	l, ok := d.langs[language]
	if !ok {
		return SessionInfo{}, fmt.Errorf("%w: %q", ErrUnknownLanguage, language)
	}
	if l.Handoff != sandbox.HandoffPrestart {
		return SessionInfo{}, fmt.Errorf("%w: %s is not pre-started (handoff: %s)", ErrSessionsOff, language, l.Handoff)
	}
	if l.Bootstrap == "" {
		return SessionInfo{}, fmt.Errorf("%w: %s has no session interpreter (python, node and bash have one)", ErrSessionsOff, language)
	}
	cfg, err := d.reserveSession(owner)
	if err != nil {
		return SessionInfo{}, err
	}
	opened := false
	defer func() {
		if !opened {
			d.unreserveSession(owner)
		}
	}()
	if ttl <= 0 {
		ttl = cfg.IdleTTL
	}
	lease, err := l.pool.Acquire(ctx)
	if err != nil {
		return SessionInfo{}, err
	}
	now := time.Now()
	s := &session[S]{lang: l, lease: lease, limit: now.Add(cfg.MaxLifetime)}
	s.info = SessionInfo{ID: newSessionID(), Language: l.Name, Owner: owner, Created: now, LastUsed: now, IdleTTL: ttl,
		RunTimeout: runTimeout}
	// An empty first cell starts the interpreter now, so that the
	// session's first real cell finds it warm and a broken one fails here.
	if _, err := d.cell(ctx, s, Request{Language: l.Name, Timeout: l.Limits.Timeout}); err != nil {
		s.discard() // whatever the runner said, this sandbox is no session's
		return SessionInfo{}, err
	}
	d.sess.mu.Lock()
	if d.sess.shutdown {
		d.sess.mu.Unlock()
		lease.Release()
		return SessionInfo{}, ErrShuttingDown
	}
	if d.sess.open == nil {
		d.sess.open = make(map[string]*session[S])
	}
	d.sess.open[s.info.ID] = s
	d.sess.mu.Unlock()
	opened = true

	s.mu.Lock()
	s.schedule(d)
	info := s.snapshot()
	s.mu.Unlock()
	d.logger.Info("session opened", "session", info.ID, "language", l.Name, "owner", owner, "idle_ttl", ttl)
	return info, nil
}

// reserveSession counts a session being opened against the bounds.
func (d *Dispatcher[S]) reserveSession(owner string) (SessionConfig, error) {
	d.sess.mu.Lock()
	defer d.sess.mu.Unlock()
	cfg := d.sess.cfg
	switch {
	case d.sess.shutdown:
		return cfg, ErrShuttingDown
	case cfg.Max <= 0:
		return cfg, ErrSessionsOff
	case d.sess.reserved[owner] >= cfg.MaxPerClient:
		return cfg, fmt.Errorf("%w: %d open", ErrSessionsPerClient, cfg.MaxPerClient)
	case d.sess.total >= cfg.Max:
		return cfg, fmt.Errorf("%w: %d open", ErrSessionsFull, cfg.Max)
	}
	if d.sess.reserved == nil {
		d.sess.reserved = make(map[string]int)
	}
	d.sess.reserved[owner]++
	d.sess.total++
	return cfg, nil
}

func (d *Dispatcher[S]) unreserveSession(owner string) {
	d.sess.mu.Lock()
	defer d.sess.mu.Unlock()
	if d.sess.reserved[owner]--; d.sess.reserved[owner] <= 0 {
		delete(d.sess.reserved, owner)
	}
	d.sess.total--
}

// RunInSession runs req (its Code is the cell) as the next cell of the
// session id: its state is the previous cells'. req.Timeout bounds the
// cell; at it the cell is interrupted, and a cell that will not stop
// ends the session. Outcome.Result.SessionEnded reports that the
// session is over (the interpreter exited or was killed): it is closed.
func (d *Dispatcher[S]) RunInSession(ctx context.Context, id string, req Request) (Outcome, error) {
	s := d.lookupSession(id)
	if s == nil {
		return Outcome{}, ErrNoSession
	}
	if !s.running.TryLock() {
		return Outcome{}, ErrSessionBusy
	}
	defer s.running.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Outcome{}, ErrNoSession
	}
	s.timer.Stop() // a running session does not expire
	s.info.Running = true
	s.mu.Unlock()

	out, err := d.cell(ctx, s, req)

	s.mu.Lock()
	s.info.Running = false
	s.info.Runs++
	s.info.LastUsed = time.Now()
	closed := s.closed
	rejected := errors.Is(err, ErrRejected) // a bad cell: the session lives on
	if !closed && (err == nil || rejected) && !out.Result.SessionEnded {
		s.schedule(d)
	}
	var leftover *pool.Lease[S]
	if closed {
		leftover, s.lease = s.lease, nil
	}
	s.mu.Unlock()
	switch {
	case closed:
		// Closed while it ran: the hand-off was cut and the sandbox
		// destroyed, unless the cell finished first.
		if leftover != nil {
			leftover.Release()
		}
		return Outcome{}, ErrNoSession
	case rejected:
		return out, err
	case err != nil:
		d.endSession(s, "failed")
		return out, err
	case out.Result.SessionEnded:
		d.endSession(s, "ended")
	}
	return out, nil
}

// cell hands one cell to the session's sandbox. Any failure of the
// hand-off destroys the sandbox; the caller ends the session.
func (d *Dispatcher[S]) cell(ctx context.Context, s *session[S], req Request) (Outcome, error) {
	l := s.lang
	job := Job(l.Language, req)
	job.Cell = true
	sb := s.lease.Sandbox()
	out := Outcome{SandboxID: sb.ID()}
	ctx, span := d.tracer.Start(ctx, "session.cell", trace.WithAttributes(
		attribute.String("warmbox.language", l.Name),
		attribute.String("warmbox.session", s.info.ID),
		attribute.String("warmbox.sandbox", shortID(sb.ID()))))
	defer span.End()
	// The runner interrupts the cell at its timeout and gives it a
	// second to stop, then waits for its output's end for another.
	ctx, cancel := context.WithTimeout(ctx, req.Timeout+killGrace+2*time.Second)
	defer cancel()
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	start := time.Now()
	res, err := l.rt.Handoff(ctx, sb, job, req.OnOutput)
	out.Run = time.Since(start)
	if d.obs != nil {
		d.obs.Handoff(l.Name, out.Run, err)
	}
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, "hand-off failed")
		s.discard()
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return out, fmt.Errorf("session cell: %w", ctx.Err())
		}
		return out, fmt.Errorf("%w: %w", ErrSandboxLost, err)
	case res.Error != "" && !res.SessionEnded:
		span.SetStatus(codes.Error, res.Error)
		return out, fmt.Errorf("%w: %s", ErrRejected, res.Error)
	case res.Error != "":
		span.SetStatus(codes.Error, res.Error)
		return out, fmt.Errorf("%w: %s", ErrSandboxLost, res.Error)
	}
	if clampOutput(&res, job.Limits.OutputBytes) {
		s.discard()
		return out, fmt.Errorf("%w: the runner returned more output than its caps", ErrSandboxLost)
	}
	span.SetAttributes(attribute.Int("warmbox.exit_code", res.ExitCode), attribute.Bool("warmbox.timed_out", res.TimedOut))
	out.Result = res
	return out, nil
}

// discard destroys the session's sandbox at once (its hand-off failed);
// endSession then only unregisters it.
func (s *session[S]) discard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lease != nil {
		s.lease.Discard(pool.ReasonUnhealthy)
		s.lease = nil
	}
}

// CloseSession closes the session id: a running cell is cut off and its
// sandbox destroyed; otherwise the sandbox goes back to its pool through
// the verified reset, which kills the interpreter and wipes its files.
func (d *Dispatcher[S]) CloseSession(id string) error {
	s := d.lookupSession(id)
	if s == nil {
		return ErrNoSession
	}
	d.endSession(s, "closed")
	return nil
}

// endSession unregisters s and returns or destroys its sandbox; reason
// is logged ("closed", "expired", "ended", "failed", "shutdown").
func (d *Dispatcher[S]) endSession(s *session[S], reason string) {
	d.sess.mu.Lock()
	if d.sess.open[s.info.ID] != s {
		d.sess.mu.Unlock()
		return
	}
	delete(d.sess.open, s.info.ID)
	d.sess.mu.Unlock()
	d.unreserveSession(s.info.Owner)

	s.mu.Lock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	running := s.info.Running
	if running && s.cancel != nil {
		s.cancel() // the hand-off fails and discards the sandbox
	}
	lease := s.lease
	if !running {
		s.lease = nil
	}
	info := s.snapshot()
	s.mu.Unlock()
	if !running && lease != nil {
		lease.Release()
	}
	d.logger.Info("session closed", "session", info.ID, "language", info.Language, "reason", reason, "runs", info.Runs,
		"age", time.Since(info.Created).Round(time.Millisecond))
}

// schedule arms the expiry timer for the session's current ExpiresAt.
// s.mu is held.
func (s *session[S]) schedule(d *Dispatcher[S]) {
	at := s.snapshot().ExpiresAt
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer = time.AfterFunc(time.Until(at), func() { d.endSession(s, "expired") })
}

// snapshot is the session's info with ExpiresAt computed. s.mu is held.
func (s *session[S]) snapshot() SessionInfo {
	info := s.info
	info.ExpiresAt = info.LastUsed.Add(info.IdleTTL)
	if info.ExpiresAt.After(s.limit) {
		info.ExpiresAt = s.limit
	}
	return info
}

func (d *Dispatcher[S]) lookupSession(id string) *session[S] {
	d.sess.mu.Lock()
	defer d.sess.mu.Unlock()
	return d.sess.open[id]
}

// Session describes the open session id.
func (d *Dispatcher[S]) Session(id string) (SessionInfo, error) {
	s := d.lookupSession(id)
	if s == nil {
		return SessionInfo{}, ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshot(), nil
}

// Sessions lists the open sessions of owner ("" = all), oldest first.
func (d *Dispatcher[S]) Sessions(owner string) []SessionInfo {
	d.sess.mu.Lock()
	list := make([]*session[S], 0, len(d.sess.open))
	for _, s := range d.sess.open {
		list = append(list, s)
	}
	d.sess.mu.Unlock()
	out := make([]SessionInfo, 0, len(list))
	for _, s := range list {
		s.mu.Lock()
		info := s.snapshot()
		s.mu.Unlock()
		if owner == "" || info.Owner == owner {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// closeSessions closes every session and refuses new ones (shutdown).
func (d *Dispatcher[S]) closeSessions() {
	d.sess.mu.Lock()
	d.sess.shutdown = true
	list := make([]*session[S], 0, len(d.sess.open))
	for _, s := range d.sess.open {
		list = append(list, s)
	}
	d.sess.mu.Unlock()
	for _, s := range list {
		d.endSession(s, "shutdown")
	}
}

// newSessionID returns a fresh session id: 128 random bits. Knowing it is
// what lets a caller use the session.
func newSessionID() string {
	return "s-" + rand.Text()
}
