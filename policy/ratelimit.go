package policy

import (
	"container/list"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit bounds how many requests one client may start per window. It
// is a token bucket: a client may spend Requests at once, and regains them
// evenly over Window (10 per 60s regains one every 6s).
type RateLimit struct {
	// Requests is the bucket size; 0 turns rate limiting off.
	Requests int `yaml:"requests"`
	// Window is the time in which a spent bucket refills completely.
	Window time.Duration `yaml:"window"`
	// Concurrent caps how many executions of one client run (or wait for
	// a sandbox) at once, so that one client cannot take every sandbox;
	// 0 = no cap. Independent of Requests.
	Concurrent int `yaml:"concurrent"`
}

// DefaultRateLimit is the original service's limit: 10 requests per 60s
// per client.
func DefaultRateLimit() RateLimit {
	return RateLimit{Requests: 10, Window: 60 * time.Second}
}

// Enabled reports whether the limit applies at all.
func (r RateLimit) Enabled() bool { return r.Requests > 0 }

// Validate checks the ranges; errors name the key relative to the
// rate_limit block.
func (r RateLimit) Validate() error {
	if r.Requests < 0 || r.Requests > 1_000_000 {
		return fmt.Errorf("requests: must be 0 (off) to 1000000, got %d", r.Requests)
	}
	if r.Requests > 0 && (r.Window < time.Second || r.Window > 24*time.Hour) {
		return fmt.Errorf("window: must be 1s to 24h, got %v", r.Window)
	}
	if r.Concurrent < 0 || r.Concurrent > 10_000 {
		return fmt.Errorf("concurrent: must be 0 (no cap) to 10000, got %d", r.Concurrent)
	}
	return nil
}

// maxClients caps the limiter's table. Beyond it the least recently seen
// client is forgotten: it gets a full bucket when it comes back, which is
// the price of bounded memory under a flood of addresses.
const maxClients = 100_000

// Limiter keeps one token bucket per client. It is safe for concurrent
// use. A nil *Limiter, or one built from a disabled RateLimit, allows
// everything.
//
// Memory is bounded without a background goroutine: clients are kept in
// least-recently-seen order, every Allow forgets those idle for a whole
// window (their bucket is full again, so forgetting them changes
// nothing), and the table never holds more than maxClients entries.
type Limiter struct {
	limit rate.Limit
	burst int
	idle  time.Duration // after this long unseen, a bucket is full again
	max   int
	now   func() time.Time // time.Now: carries the monotonic reading

	mu sync.Mutex
	// Guarded by mu.
	clients map[string]*list.Element // of *bucket
	order   *list.List               // front: most recently seen
}

type bucket struct {
	key      string
	lim      *rate.Limiter
	lastSeen time.Time
}

// NewLimiter builds a limiter for r; r should be valid.
func NewLimiter(r RateLimit) *Limiter {
	l := &Limiter{max: maxClients, now: time.Now}
	if !r.Enabled() || r.Window <= 0 {
		return l
	}
	l.limit = rate.Limit(float64(r.Requests) / r.Window.Seconds())
	l.burst = r.Requests
	l.idle = r.Window
	l.clients = make(map[string]*list.Element)
	l.order = list.New()
	return l
}

// Allow spends one token of client's bucket. When the bucket is empty it
// returns false and how long until a token is back.
func (l *Limiter) Allow(client string) (ok bool, retryAfter time.Duration) {
	if l == nil || l.burst == 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	b := l.bucketLocked(client, now)
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.lim.TokensAt(now)
	wait := time.Duration(math.Ceil(missing / float64(l.limit) * float64(time.Second)))
	if wait <= 0 {
		wait = time.Nanosecond
	}
	return false, wait
}

// Clients returns the number of clients currently remembered.
func (l *Limiter) Clients() int {
	if l == nil || l.burst == 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// bucketLocked finds or makes client's bucket and marks it seen.
func (l *Limiter) bucketLocked(client string, now time.Time) *bucket {
	if e, ok := l.clients[client]; ok {
		b := e.Value.(*bucket)
		b.lastSeen = now
		l.order.MoveToFront(e)
		return b
	}
	for len(l.clients) >= l.max {
		l.removeLocked(l.order.Back())
	}
	b := &bucket{key: client, lim: rate.NewLimiter(l.limit, l.burst), lastSeen: now}
	l.clients[client] = l.order.PushFront(b)
	return b
}

// sweepLocked forgets clients unseen for a whole window, oldest first.
func (l *Limiter) sweepLocked(now time.Time) {
	for e := l.order.Back(); e != nil; e = l.order.Back() {
		if now.Sub(e.Value.(*bucket).lastSeen) < l.idle {
			return
		}
		l.removeLocked(e)
	}
}

func (l *Limiter) removeLocked(e *list.Element) {
	b := l.order.Remove(e).(*bucket)
	delete(l.clients, b.key)
}
