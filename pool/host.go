package pool

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
)

// HostConfig bounds what all pools of one host may use together. The zero
// value sets no limit.
type HostConfig struct {
	// IdleBudget caps idle sandboxes (and creates that will become idle)
	// across all pools beyond each pool's MinIdle; 0 means unlimited. Each
	// pool's MinIdle and the creates for waiting callers need no budget.
	IdleBudget int `yaml:"idle_budget"`
	// CreateParallel caps concurrent creates across all pools; 0 means
	// unlimited. Each pool's own Config.CreateParallel still applies.
	CreateParallel int `yaml:"create_parallel"`
}

// Validate reports every invalid field, each error naming the yaml key and
// the accepted range. It has no side effects.
func (c HostConfig) Validate() error {
	var errs []error
	if c.IdleBudget < 0 {
		errs = append(errs, fmt.Errorf("idle_budget: must be >= 0 (0 = unlimited), got %d", c.IdleBudget))
	}
	if c.CreateParallel < 0 {
		errs = append(errs, fmt.Errorf("create_parallel: must be >= 0 (0 = unlimited), got %d", c.CreateParallel))
	}
	return errors.Join(errs...)
}

// Host holds the limits that pools sharing it draw from: idle-budget slots
// and create slots. Pass it to [New] with [WithHost]. It is safe for
// concurrent use and has no goroutine of its own; it needs no closing.
//
// Idle budget: a pool holds one slot for every idle sandbox or create in
// flight beyond MinIdle plus its waiting callers, and gives it back when
// the count falls (a lease, a destroy, a waiter arriving). Each pool is
// entitled to a max-min fair share of the budget, computed from what the
// pools want (their idle target above MinIdle); a pool may use budget that
// no other pool is entitled to and has not taken, and gives it back, one
// surplus sandbox per maintainer tick, when another pool claims its share.
//
// Create slots are handed out first come, first served across pools.
type Host struct {
	cfg HostConfig

	mu sync.Mutex
	// The fields below are guarded by mu. A pool may call in with its own
	// mutex held (lock order: pool, then host); the host never calls a
	// pool except through member.kick, which does not block.
	members   []*member       // in joining order
	idleInUse int             // sum of members' held
	creating  int             // create slots in use
	createQ   []chan struct{} // creates waiting for a slot, FIFO
}

// member is one pool's account at its host. Guarded by Host.mu.
type member struct {
	kick func() // wakes the pool's maintainer; never blocks
	held int    // idle-budget slots held
	want int    // slots the pool would like: its target above MinIdle
}

// HostStats is a value snapshot of a Host.
type HostStats struct {
	// IdleBudget and CreateParallel are the configured limits (0 =
	// unlimited); IdleInUse counts budget slots held by pools, Creating
	// the creates running now (not those queued for a slot).
	IdleBudget, IdleInUse, CreateParallel, Creating int
}

// NewHost returns a Host with the limits of cfg. It panics if cfg is
// invalid; call [HostConfig.Validate] first on outside input.
func NewHost(cfg HostConfig) *Host {
	if err := cfg.Validate(); err != nil {
		panic("pool.NewHost: " + err.Error())
	}
	return &Host{cfg: cfg}
}

// Stats returns a snapshot of the host's limits and usage.
func (h *Host) Stats() HostStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return HostStats{
		IdleBudget:     h.cfg.IdleBudget,
		IdleInUse:      h.idleInUse,
		CreateParallel: h.cfg.CreateParallel,
		Creating:       h.creating,
	}
}

// Option configures [New].
type Option func(*options)

type options struct {
	host *Host
}

// WithHost makes the pool draw its idle budget and create slots from h,
// shared with the other pools given the same Host. Without it a pool has a
// Host of its own with no limits.
func WithHost(h *Host) Option {
	return func(o *options) { o.host = h }
}

// join registers a pool; kick must not block.
func (h *Host) join(kick func()) *member {
	m := &member{kick: kick}
	h.mu.Lock()
	h.members = append(h.members, m)
	h.mu.Unlock()
	return m
}

// leave gives back m's slots and forgets it; other pools may now use them.
func (h *Host) leave(m *member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := slices.Index(h.members, m)
	if i < 0 {
		return
	}
	h.idleInUse -= m.held
	m.held, m.want = 0, 0
	h.members = slices.Delete(h.members, i, i+1)
	h.kickLocked(nil)
}

// setWant records how many slots m would like and wakes pools whose
// allowance moved past what they hold.
func (h *Host) setWant(m *member, want int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.want == want {
		return
	}
	m.want = want
	h.kickLocked(m)
}

// overShare reports whether m holds more than its fair share while other
// pools cannot get theirs from the free budget: m must shed.
func (h *Host) overShare(m *member) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := slices.Index(h.members, m)
	if i < 0 || h.cfg.IdleBudget == 0 {
		return false
	}
	allow := h.allowancesLocked()
	return m.held > allow[i] && h.reservedLocked(allow, i) > h.cfg.IdleBudget-h.idleInUse
}

// acquireIdle grants m up to k more slots and returns how many it granted:
// from the free budget, less what other pools are entitled to (their fair
// share) and do not hold yet.
func (h *Host) acquireIdle(m *member, k int) int {
	if k <= 0 {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	i := slices.Index(h.members, m)
	if i < 0 {
		return 0
	}
	if h.cfg.IdleBudget > 0 {
		free := h.cfg.IdleBudget - h.idleInUse
		k = max(0, min(k, free-h.reservedLocked(h.allowancesLocked(), i)))
	}
	m.held += k
	h.idleInUse += k
	return k
}

// releaseIdle gives back k of m's slots and wakes pools that wait for one.
func (h *Host) releaseIdle(m *member, k int) {
	if k <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k = min(k, m.held)
	m.held -= k
	h.idleInUse -= k
	h.kickLocked(m)
}

// allowancesLocked returns each member's fair share of the budget, in
// h.members order, shared max-min fairly by want: every pool gets what it
// wants if that is no more than an equal share of what the smaller wants
// leave; the rest is split equally among the pools that want more.
func (h *Host) allowancesLocked() []int {
	n := len(h.members)
	out := make([]int, n)
	if h.cfg.IdleBudget == 0 {
		for i := range out {
			out[i] = math.MaxInt
		}
		return out
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return h.members[a].want - h.members[b].want })
	left := h.cfg.IdleBudget
	for k, i := range order {
		a := min(h.members[i].want, left/(n-k))
		out[i] = a
		left -= a
	}
	return out
}

// reservedLocked sums the slots that members other than i are entitled to
// and do not hold.
func (h *Host) reservedLocked(allow []int, i int) int {
	r := 0
	for j, m := range h.members {
		if j != i {
			r += max(0, allow[j]-m.held)
		}
	}
	return r
}

// kickLocked wakes every member other than except that must shed, or that
// wants more than it holds while it could get a slot.
func (h *Host) kickLocked(except *member) {
	if h.cfg.IdleBudget == 0 {
		return // nothing is ever refused or reclaimed
	}
	allow := h.allowancesLocked()
	free := h.cfg.IdleBudget - h.idleInUse
	for i, m := range h.members {
		if m == except {
			continue
		}
		reserved := h.reservedLocked(allow, i)
		if (m.held > allow[i] && reserved > free) || (m.held < m.want && free > reserved) {
			m.kick()
		}
	}
}

// acquireCreate waits for a create slot, first come first served, until
// ctx ends. On success the caller must call releaseCreate.
func (h *Host) acquireCreate(ctx context.Context) error {
	h.mu.Lock()
	if h.cfg.CreateParallel == 0 || (h.creating < h.cfg.CreateParallel && len(h.createQ) == 0) {
		h.creating++
		h.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	h.createQ = append(h.createQ, ch)
	h.mu.Unlock()

	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	h.mu.Lock()
	if i := slices.Index(h.createQ, ch); i >= 0 {
		h.createQ = slices.Delete(h.createQ, i, i+1)
		h.mu.Unlock()
		return ctx.Err()
	}
	h.mu.Unlock()
	h.releaseCreate() // granted as ctx ended: pass it on
	return ctx.Err()
}

// releaseCreate hands the slot to the longest waiting create, or frees it.
func (h *Host) releaseCreate() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.createQ) > 0 {
		close(h.createQ[0]) // the slot passes on; creating is unchanged
		h.createQ = slices.Delete(h.createQ, 0, 1)
		return
	}
	h.creating--
}
