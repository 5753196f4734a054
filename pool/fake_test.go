package pool_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/warmbox/warmbox/pool"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeSandbox is what fakeRuntime creates.
type fakeSandbox struct{ id string }

func (s *fakeSandbox) ID() string { return s.id }

// fakeRuntime is a pool.Runtime with counters, injectable latency and
// failures. Latencies are set before New; failures may change at any time.
type fakeRuntime struct {
	createDelay, resetDelay, destroyDelay time.Duration
	createIgnoresCtx                      bool // Create runs to the end even if ctx ends
	// failAtStart: a Create that begins while createErr is set fails at
	// once (as with a removed image), and one already running succeeds.
	failAtStart bool
	// resetCycle, when set, replaces resetDelay: Reset call n takes
	// resetCycle[n % len(resetCycle)].
	resetCycle []time.Duration

	mu          sync.Mutex
	createErr   error // Create fails while set
	resetErr    error // Reset fails while set
	destroyErr  error // Destroy fails while set (the sandbox is gone anyway)
	seq         int
	creates     int // Create calls
	createFails int
	resets      int
	resetCalls  int
	destroys    int
	inflight    int // creates running now
	maxInflight int
	created     []string       // IDs in creation order
	destroyed   map[string]int // ID -> Destroy calls
}

func newFake() *fakeRuntime {
	return &fakeRuntime{destroyed: make(map[string]int)}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeRuntime) Create(ctx context.Context) (*fakeSandbox, error) {
	f.mu.Lock()
	f.creates++
	f.inflight++
	f.maxInflight = max(f.maxInflight, f.inflight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}()

	if f.createIgnoresCtx {
		ctx = context.WithoutCancel(ctx)
	}
	f.mu.Lock()
	startErr := f.createErr
	f.mu.Unlock()
	var err error
	if !f.failAtStart || startErr == nil {
		err = sleep(ctx, f.createDelay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err != nil:
	case f.failAtStart:
		err = startErr
	default:
		err = f.createErr
	}
	if err != nil {
		f.createFails++
		return nil, fmt.Errorf("fake create: %w", err)
	}
	f.seq++
	s := &fakeSandbox{id: fmt.Sprintf("sb-%d", f.seq)}
	f.created = append(f.created, s.id)
	return s, nil
}

func (f *fakeRuntime) Reset(ctx context.Context, s *fakeSandbox) error {
	d := f.resetDelay
	if len(f.resetCycle) > 0 {
		f.mu.Lock()
		d = f.resetCycle[f.resetCalls%len(f.resetCycle)]
		f.resetCalls++
		f.mu.Unlock()
	}
	err := sleep(ctx, d)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets++
	if err == nil {
		err = f.resetErr
	}
	return err
}

func (f *fakeRuntime) Destroy(ctx context.Context, s *fakeSandbox) error {
	err := sleep(ctx, f.destroyDelay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.destroys++
	f.destroyed[s.id]++
	if err == nil {
		err = f.destroyErr
	}
	return err
}

func (f *fakeRuntime) setCreateErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.createErr = err
}

func (f *fakeRuntime) setDestroyErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.destroyErr = err
}

func (f *fakeRuntime) setResetErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resetErr = err
}

// fakeCounts is a snapshot of fakeRuntime's counters.
type fakeCounts struct {
	Creates, CreateFails, Created, Resets, Destroys, MaxInflight int
}

func (f *fakeRuntime) counts() fakeCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fakeCounts{
		Creates:     f.creates,
		CreateFails: f.createFails,
		Created:     len(f.created),
		Resets:      f.resets,
		Destroys:    f.destroys,
		MaxInflight: f.maxInflight,
	}
}

// checkAllDestroyedOnce fails unless every sandbox ever created was
// destroyed exactly once and nothing else was destroyed.
func (f *fakeRuntime) checkAllDestroyedOnce(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range f.created {
		if got := f.destroyed[id]; got != 1 {
			t.Errorf("sandbox %s destroyed %d times, want 1", id, got)
		}
	}
	if got, want := len(f.destroyed), len(f.created); got != want {
		t.Errorf("destroyed %d distinct sandboxes, want %d (created)", got, want)
	}
}

// recorder is a pool.Observer that counts calls.
type recorder struct {
	mu            sync.Mutex
	created       int
	failed        int
	destroyed     map[pool.DestroyReason]int
	destroyFailed int
}

func (r *recorder) Created(_ string, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.created++
	if err != nil {
		r.failed++
	}
}

func (r *recorder) Destroyed(_ string, reason pool.DestroyReason, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.destroyFailed++
	}
	if r.destroyed == nil {
		r.destroyed = make(map[pool.DestroyReason]int)
	}
	r.destroyed[reason]++
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(substr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), substr)
}

// testConfig returns DefaultConfig with the given sizes, single use and
// a wait bounded by the callers' contexts (the cases that test reuse and
// MaxWait set them).
func testConfig(minIdle, maxSize int) pool.Config {
	c := pool.DefaultConfig()
	c.MinIdle, c.MaxSize = minIdle, maxSize
	c.MaxUses, c.MaxWait = 1, time.Minute
	return c
}

type poolOpts struct {
	obs pool.Observer
	log *logBuffer
}

// newPool starts a pool named "python" and closes it at cleanup.
func newPool(t *testing.T, cfg pool.Config, rt *fakeRuntime, opts ...poolOpts) *pool.Pool[*fakeSandbox] {
	t.Helper()
	var o poolOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	logger := slog.New(slog.DiscardHandler)
	if o.log != nil {
		logger = slog.New(slog.NewTextHandler(o.log, nil))
	}
	p, err := pool.New("python", cfg, rt, o.obs, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// waitReady calls WaitReady with a generous (fake-clock) timeout.
func waitReady(t *testing.T, p *pool.Pool[*fakeSandbox]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := p.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
}

// mustAcquire acquires with a generous (fake-clock) timeout.
func mustAcquire(t *testing.T, p *pool.Pool[*fakeSandbox]) *pool.Lease[*fakeSandbox] {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	l, err := p.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return l
}

// closePool closes p and fails on error.
func closePool(t *testing.T, p *pool.Pool[*fakeSandbox]) {
	t.Helper()
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

var errBoom = errors.New("boom")
