package policy

import "sync"

// Concurrency counts each client's executions in flight and refuses one
// past its cap. It is safe for concurrent use. A nil *Concurrency, or one
// with a cap of 0, admits everything. Memory is one map entry per client
// with executions in flight: an entry goes when its count reaches 0.
type Concurrency struct {
	max int

	mu       sync.Mutex
	inflight map[string]int // guarded by mu
}

// NewConcurrency caps each client at max executions in flight; 0 = no
// cap.
func NewConcurrency(max int) *Concurrency {
	return &Concurrency{max: max, inflight: map[string]int{}}
}

// Max is the cap (0: none).
func (c *Concurrency) Max() int {
	if c == nil {
		return 0
	}
	return c.max
}

// Acquire admits one execution of client, or refuses it when the client
// already has Max in flight. Every admitted execution must call done
// once, when it ends.
func (c *Concurrency) Acquire(client string) (done func(), ok bool) {
	if c == nil || c.max <= 0 {
		return func() {}, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[client] >= c.max {
		return nil, false
	}
	c.inflight[client]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.inflight[client]--; c.inflight[client] <= 0 {
				delete(c.inflight, client)
			}
		})
	}, true
}

// InFlight returns client's executions in flight.
func (c *Concurrency) InFlight(client string) int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inflight[client]
}
