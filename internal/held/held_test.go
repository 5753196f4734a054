package held

import (
	"slices"
	"testing"
	"time"
)

func TestSet(t *testing.T) {
	s := New()
	s.Claim("creating")
	s.Confirm("a")
	s.Confirm("b")
	time.Sleep(2 * time.Millisecond)
	listed := time.Now()
	time.Sleep(2 * time.Millisecond)
	s.Confirm("late") // after the list began
	for _, id := range []string{"creating", "a", "b"} {
		if !s.Holds(id) {
			t.Errorf("%s not held", id)
		}
	}
	got := s.Missing(listed, map[string]bool{"a": true})
	if !slices.Equal(got, []string{"b"}) {
		t.Errorf("Missing = %v, want [b]: not a (listed), not creating (no backend object yet), not late (after the list)", got)
	}
	s.Release("b")
	if s.Holds("b") || len(s.Missing(listed, map[string]bool{"a": true})) != 0 {
		t.Error("a released id is still held or missing")
	}
	s.Claim("a") // a claim never undoes a confirmation
	if got := s.Missing(listed, map[string]bool{}); !slices.Contains(got, "a") {
		t.Errorf("Missing = %v: a claim reset a confirmed id", got)
	}
}
