package uids

import (
	"errors"
	"testing"

	"github.com/warmbox/warmbox/runner/wire"
)

func TestBlocksAreDistinctAndValid(t *testing.T) {
	b := New()
	seen := map[int]bool{}
	for range Cap() {
		base, err := b.Take()
		if err != nil {
			t.Fatalf("Take after %d: %v", len(seen), err)
		}
		if err := wire.ValidRunnerUID(base); err != nil {
			t.Errorf("block %d: %v", base, err)
		}
		if (base-wire.MinSandboxUID)%wire.UIDBlock != 0 {
			t.Errorf("block %d is not aligned", base)
		}
		if seen[base] {
			t.Fatalf("block %d handed out twice", base)
		}
		seen[base] = true
	}
	if _, err := b.Take(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Take with every block held: got %v, want ErrExhausted", err)
	}
	var one int
	for base := range seen {
		one = base
		break
	}
	b.Put(one)
	if got := b.Len(); got != Cap()-1 {
		t.Errorf("Len after Put: got %d, want %d", got, Cap()-1)
	}
	if base, err := b.Take(); err != nil || base != one {
		t.Errorf("Take after Put: got %d, %v; want %d", base, err, one)
	}
}
