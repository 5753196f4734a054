package pool

import (
	"fmt"
	"slices"
	"testing"
)

func TestHostShares(t *testing.T) {
	for _, tc := range []struct {
		budget int
		wants  []int
		want   []int
	}{
		{0, []int{5, 0}, nil}, // unlimited: no share computed
		{4, []int{11, 0}, []int{4, 0}},
		{4, []int{11, 2}, []int{2, 2}},
		{4, []int{11, 1}, []int{3, 1}},
		{4, []int{3, 3}, []int{2, 2}},
		{5, []int{9, 9}, []int{2, 3}}, // the remainder goes to the later pool
		{6, []int{1, 10, 10}, []int{1, 2, 3}},
		{6, []int{0, 0, 0}, []int{0, 0, 0}},
		{2, []int{5, 5, 5}, []int{0, 1, 1}},
	} {
		t.Run(fmt.Sprintf("budget %d wants %v", tc.budget, tc.wants), func(t *testing.T) {
			h := NewHost(HostConfig{IdleBudget: tc.budget})
			for _, w := range tc.wants {
				h.setWant(h.join(func() {}), w)
			}
			got := h.allowancesLocked()
			if tc.budget == 0 {
				for i, a := range got {
					if a < tc.wants[i] {
						t.Errorf("share %d = %d, want unlimited", i, a)
					}
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("shares = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestHostUnclaimedBudget checks that a pool may use budget that no other
// pool is entitled to, and gets nothing that another is entitled to.
func TestHostUnclaimedBudget(t *testing.T) {
	h := NewHost(HostConfig{IdleBudget: 4})
	a, b := h.join(func() {}), h.join(func() {})
	h.setWant(a, 1)
	if got := h.acquireIdle(a, 4); got != 4 {
		t.Errorf("a alone got %d slots, want all 4 (b wants none)", got)
	}
	h.setWant(b, 3) // shares: a 1, b 3
	if !h.overShare(a) || h.overShare(b) {
		t.Errorf("overShare(a), overShare(b) = %v, %v; want true, false", h.overShare(a), h.overShare(b))
	}
	if got := h.acquireIdle(b, 3); got != 0 {
		t.Errorf("b got %d slots while a holds all, want 0", got)
	}
	h.releaseIdle(a, 2)
	if got := h.acquireIdle(a, 1); got != 0 {
		t.Errorf("a got %d slots back while b is short, want 0", got)
	}
	if got := h.acquireIdle(b, 3); got != 2 {
		t.Errorf("b got %d slots, want the 2 released", got)
	}
	if s := h.Stats(); s.IdleInUse != 4 {
		t.Errorf("IdleInUse = %d, want 4", s.IdleInUse)
	}
	h.leave(a)
	if s := h.Stats(); s.IdleInUse != 2 {
		t.Errorf("IdleInUse after a left = %d, want 2", s.IdleInUse)
	}
}
