package held

import (
	"sync"
	"time"
)

// Set is a set of sandbox ids that pools hold, each with the time the
// backend was known to have it. It is safe for concurrent use.
type Set struct {
	mu sync.Mutex
	at map[string]time.Time // zero: claimed, the create call still running
}

// New returns an empty Set.
func New() *Set { return &Set{at: map[string]time.Time{}} }

// Claim holds id before the backend has it (a name chosen before the
// create call): reconcile must not take it for an orphan.
func (s *Set) Claim(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.at[id]; !ok {
		s.at[id] = time.Time{}
	}
}

// Confirm holds id, which the backend has from now on.
func (s *Set) Confirm(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at[id] = time.Now()
}

// Release drops id (before its removal: if the removal fails, reconcile
// finds it unheld).
func (s *Set) Release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.at, id)
}

// Holds reports whether id is held (claimed or confirmed).
func (s *Set) Holds(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.at[id]
	return ok
}

// Missing returns the held ids that the backend had before a list began
// at listed and that the list (listedIDs) does not contain: they are
// gone. Ids claimed or confirmed later may rightly be missing.
func (s *Set) Missing(listed time.Time, listedIDs map[string]bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []string
	for id, at := range s.at {
		if !at.IsZero() && at.Before(listed) && !listedIDs[id] {
			gone = append(gone, id)
		}
	}
	return gone
}
