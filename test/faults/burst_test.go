package faults

import (
	"sync"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// TestBurstDrainsPool sends 20 concurrent 3-second jobs (timeout 5) to a
// pool of at most 2 sandboxes, 8 waiters and a 2 s max_wait. Every caller
// gets an answer: a 200, or 503 capacity with Retry-After. Callers beyond
// the waiter bound are rejected at once; the waiters wait max_wait for a
// sandbox (none frees up in that time), then get 503; nobody waits
// forever. The pool's acquire timeouts count the 503s, and the pool
// serves normally afterwards.
func TestBurstDrainsPool(t *testing.T) {
	const (
		maxSize    = 2
		maxWaiters = 8
		callers    = 20
		maxWait    = 2 * time.Second
	)
	d := start(t, testdaemon.Options{Config: "rate_limit: {requests: 0}\n" +
		"pool: {min_idle: 1, max_size: 2, max_waiters: 8, max_wait: 2s}\n" +
		"languages: {node: {enabled: false}, bash: {enabled: false}}\n"})
	st, err := getStats(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	timeoutsBefore := st["python"].AcquireTimeouts

	j := job{Lang: "python", Code: "import time\ntime.sleep(3)\nprint(1)", Timeout: 5, Want: "1\n", Kind: "python sleep 3"}
	hc := newClient(callers)
	defer hc.CloseIdleConnections()
	answers := make([]answer, callers)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			answers[i] = post(hc, d.URL, j)
		}()
	}
	close(gate)
	wg.Wait()

	t.Logf("burst of %d: %s; slowest %s", callers, tally(answers), slowest(answers))
	var ok, atOnce, waited int
	for _, a := range answers {
		switch {
		case a.Problem != "" || a.HTTP == 0:
			t.Errorf("burst: %s %s", a, a.Problem)
		case a.HTTP == 200 && a.Status == "success":
			ok++
		case a.HTTP == 503 && a.Code == "capacity" && a.Elapsed < maxWait/2:
			atOnce++
		case a.HTTP == 503 && a.Code == "capacity":
			waited++
			if a.Elapsed < maxWait-200*time.Millisecond {
				t.Errorf("burst: %s: a waiter gave up before max_wait (%s)", a, maxWait)
			}
		default:
			t.Errorf("burst: %s, want 200 success or 503 capacity", a)
		}
	}
	t.Logf("burst: %d ran, %d rejected at once, %d waited max_wait then got 503", ok, atOnce, waited)
	if ok < maxSize {
		t.Errorf("only %d jobs ran; the pool holds %d sandboxes", ok, maxSize)
	}
	if want := callers - maxSize - maxWaiters; atOnce < want {
		t.Errorf("%d callers rejected at once, want at least %d (beyond %d sandboxes and %d waiters)", atOnce, want, maxSize, maxWaiters)
	}
	if waited == 0 {
		t.Errorf("no caller waited for a sandbox up to max_wait")
	}
	if st, err = getStats(d.URL); err != nil {
		t.Fatal(err)
	}
	if got := st["python"].AcquireTimeouts - timeoutsBefore; got != uint64(atOnce+waited) {
		t.Errorf("acquire_timeouts grew by %d, want %d (one per 503 capacity)", got, atOnce+waited)
	}
	poolsFull(t, d.URL, d.Scope, 30*time.Second)
	runOK(t, d.URL, "python")
	noLeak(t, d.URL, d.Scope, 30*time.Second)
}
