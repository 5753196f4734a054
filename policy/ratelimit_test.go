package policy

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for a Limiter; its readings carry the
// monotonic clock of the time.Now it started from.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter(t *testing.T, r RateLimit) (*Limiter, *fakeClock) {
	t.Helper()
	c := &fakeClock{t: time.Now()}
	l := NewLimiter(r)
	l.now = c.now
	return l, c
}

func TestRateLimitValidate(t *testing.T) {
	tests := []struct {
		name    string
		r       RateLimit
		wantErr bool
	}{
		{"default", DefaultRateLimit(), false},
		{"off", RateLimit{}, false},
		{"off ignores window", RateLimit{Requests: 0, Window: -1}, false},
		{"negative requests", RateLimit{Requests: -1, Window: time.Minute}, true},
		{"huge requests", RateLimit{Requests: 2_000_000, Window: time.Minute}, true},
		{"no window", RateLimit{Requests: 10}, true},
		{"sub-second window", RateLimit{Requests: 10, Window: time.Millisecond}, true},
		{"day window", RateLimit{Requests: 10, Window: 24 * time.Hour}, false},
		{"longer than a day", RateLimit{Requests: 10, Window: 25 * time.Hour}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate(%+v) = %v, want error %v", tt.r, err, tt.wantErr)
			}
		})
	}
}

func TestLimiterAllow(t *testing.T) {
	type step struct {
		advance   time.Duration
		client    string
		wantOK    bool
		wantRetry time.Duration // checked when !wantOK; 0 = only > 0
	}
	burst := func(client string, n int) []step {
		s := make([]step, n)
		for i := range s {
			s[i] = step{client: client, wantOK: true}
		}
		return s
	}
	tests := []struct {
		name  string
		r     RateLimit
		steps []step
	}{
		{
			name: "burst then denied with time to next token",
			r:    RateLimit{Requests: 10, Window: time.Minute},
			steps: append(burst("a", 10),
				step{client: "a", wantOK: false, wantRetry: 6 * time.Second},
				step{advance: 2 * time.Second, client: "a", wantOK: false, wantRetry: 4 * time.Second}),
		},
		{
			name: "refills evenly",
			r:    RateLimit{Requests: 10, Window: time.Minute},
			steps: append(burst("a", 10),
				step{advance: 6 * time.Second, client: "a", wantOK: true},
				step{client: "a", wantOK: false, wantRetry: 6 * time.Second}),
		},
		{
			name: "clients are independent",
			r:    RateLimit{Requests: 1, Window: time.Minute},
			steps: []step{
				{client: "a", wantOK: true},
				{client: "a", wantOK: false},
				{client: "b", wantOK: true},
				{client: "b", wantOK: false},
			},
		},
		{
			name: "full again after a window",
			r:    RateLimit{Requests: 2, Window: time.Minute},
			steps: append(burst("a", 2),
				step{client: "a", wantOK: false},
				step{advance: time.Minute, client: "a", wantOK: true},
				step{client: "a", wantOK: true},
				step{client: "a", wantOK: false}),
		},
		{
			name:  "off allows everything",
			r:     RateLimit{},
			steps: burst("a", 1000),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, clock := newTestLimiter(t, tt.r)
			for i, s := range tt.steps {
				clock.advance(s.advance)
				ok, retry := l.Allow(s.client)
				if ok != s.wantOK {
					t.Fatalf("step %d: Allow(%q) ok = %v, want %v", i, s.client, ok, s.wantOK)
				}
				switch {
				case ok && retry != 0:
					t.Fatalf("step %d: allowed with retryAfter %v, want 0", i, retry)
				case !ok && retry <= 0:
					t.Fatalf("step %d: denied with retryAfter %v, want > 0", i, retry)
				case !ok && s.wantRetry != 0 && (retry < s.wantRetry-time.Millisecond || retry > s.wantRetry+time.Millisecond):
					t.Fatalf("step %d: retryAfter = %v, want %v", i, retry, s.wantRetry)
				}
			}
		})
	}
}

func TestLimiterNil(t *testing.T) {
	var l *Limiter
	if ok, retry := l.Allow("a"); !ok || retry != 0 {
		t.Fatalf("nil Limiter: Allow = %v, %v; want true, 0", ok, retry)
	}
	if n := l.Clients(); n != 0 {
		t.Fatalf("nil Limiter: Clients = %d, want 0", n)
	}
}

func TestLimiterMemoryBounded(t *testing.T) {
	t.Run("idle clients are swept", func(t *testing.T) {
		l, clock := newTestLimiter(t, RateLimit{Requests: 5, Window: time.Minute})
		for i := range 1000 {
			l.Allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		}
		if got := l.Clients(); got != 1000 {
			t.Fatalf("Clients = %d, want 1000", got)
		}
		clock.advance(time.Minute)
		l.Allow("other")
		if got := l.Clients(); got != 1 {
			t.Fatalf("after a window: Clients = %d, want 1", got)
		}
	})
	t.Run("recently active clients are kept", func(t *testing.T) {
		l, clock := newTestLimiter(t, RateLimit{Requests: 1, Window: time.Minute})
		l.Allow("old")
		clock.advance(30 * time.Second)
		l.Allow("recent")
		clock.advance(45 * time.Second)
		l.Allow("new")
		if got := l.Clients(); got != 2 {
			t.Fatalf("Clients = %d, want 2 (old swept)", got)
		}
		if ok, _ := l.Allow("recent"); ok {
			t.Fatal("recent client's spent bucket was forgotten")
		}
	})
	t.Run("table capped, least recently seen evicted", func(t *testing.T) {
		l, _ := newTestLimiter(t, RateLimit{Requests: 1, Window: time.Hour})
		l.max = 3
		for _, c := range []string{"a", "b", "c"} {
			if ok, _ := l.Allow(c); !ok {
				t.Fatalf("first Allow(%q) denied", c)
			}
		}
		if ok, _ := l.Allow("a"); ok { // touch a: b is now the oldest
			t.Fatal("Allow(a) twice: want denied")
		}
		l.Allow("d") // evicts b
		if got := l.Clients(); got != 3 {
			t.Fatalf("Clients = %d, want 3", got)
		}
		if ok, _ := l.Allow("a"); ok {
			t.Fatal("a was evicted; want it kept as recently seen")
		}
		if ok, _ := l.Allow("b"); !ok {
			t.Fatal("b should have been evicted and start with a full bucket")
		}
	})
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(RateLimit{Requests: 100, Window: time.Hour})
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				ok, _ := l.Allow("shared")
				l.Allow(fmt.Sprintf("c%d-%d", g, i))
				if ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed < 100 || allowed > 101 { // at most one token refills in the meantime
		t.Fatalf("shared client allowed %d times, want 100", allowed)
	}
}
