// Package uids hands out the sandboxes' uid blocks: each live sandbox of
// a daemon gets a block of wire.UIDBlock ids of its own (the runner's
// uid, then one per job), so that no two live sandboxes of the daemon
// share a uid and with it a per-uid kernel budget (RLIMIT_NPROC, inotify
// instances, pipe pages, message queue bytes). Both backends use it.
//
// Blocks lie between wire.MinSandboxUID and wire.MaxSandboxUID. The
// first block a daemon hands out is chosen at random, so that two daemons
// on one host seldom overlap; they may, which costs only the sharing of
// those budgets, never isolation (every sandbox has its own PID, IPC and
// mount namespaces).
package uids

import (
	"errors"
	"math/rand/v2"
	"sync"

	"github.com/warmbox/warmbox/runner/wire"
)

// ErrExhausted: every block is held by a live sandbox.
var ErrExhausted = errors.New("no free uid block: too many live sandboxes")

// count is how many blocks fit in the range.
const count = (wire.MaxSandboxUID - wire.MinSandboxUID + 1) / wire.UIDBlock

// Blocks is a set of uid blocks. The zero value is not usable; use New.
type Blocks struct {
	mu   sync.Mutex
	held map[int]bool // block index
	next int          // where the search for a free block starts
}

// New returns an empty set whose first block is random.
func New() *Blocks {
	return &Blocks{held: map[int]bool{}, next: rand.IntN(count)}
}

// Take holds a free block and returns its first uid (the runner's).
func (b *Blocks) Take() (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for range count {
		i := b.next
		b.next = (b.next + 1) % count
		if !b.held[i] {
			b.held[i] = true
			return wire.MinSandboxUID + i*wire.UIDBlock, nil
		}
	}
	return 0, ErrExhausted
}

// Put gives back the block that starts at base. Putting a block that is
// not held does nothing.
func (b *Blocks) Put(base int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.held, (base-wire.MinSandboxUID)/wire.UIDBlock)
}

// Len is how many blocks are held.
func (b *Blocks) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.held)
}

// Cap is how many blocks there are.
func Cap() int { return count }
