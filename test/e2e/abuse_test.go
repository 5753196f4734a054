package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// TestSlowAndFloodingClients: the server's own limits close slow clients
// and refuse header floods, and one client's burst is rate-limited even
// when it spoofs X-Forwarded-For.
func TestSlowAndFloodingClients(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: `
rate_limit: {requests: 5, window: 1m}
pool: {min_idle: 1, max_size: 2}
http: {read_header_timeout: 1s, max_header_bytes: 4096}
languages: {node: {enabled: false}, bash: {enabled: false}}
`})
	host := strings.TrimPrefix(d.URL, "http://")

	t.Run("slowloris is cut off by the read-header timeout", func(t *testing.T) {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		fmt.Fprint(conn, "POST /execute HTTP/1.1\r\nHost: x\r\n")
		// Dribble a header byte every 300 ms, never finishing the headers.
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			_, _ = io.Copy(io.Discard, conn)
		}()
		for i := 0; i < 30; i++ {
			select {
			case <-closed:
				t.Logf("server closed the slow connection after %s", time.Since(start).Round(time.Millisecond))
				return
			case <-time.After(300 * time.Millisecond):
				_, _ = conn.Write([]byte("X"))
			}
		}
		t.Fatalf("a client dribbling headers for %s was not cut off", time.Since(start))
	})

	t.Run("header flood gets 431", func(t *testing.T) {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "GET /health HTTP/1.1\r\nHost: x\r\n")
		for i := 0; i < 200; i++ {
			fmt.Fprintf(conn, "X-Flood-%d: %s\r\n", i, strings.Repeat("a", 100))
		}
		fmt.Fprint(conn, "\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("no response: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", resp.StatusCode)
		}
	})

	t.Run("spoofed X-Forwarded-For does not escape the rate limit", func(t *testing.T) {
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, d.URL+"/execute", strings.NewReader(`{"code":"print(1)","environment":"python"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
					t.Error("429 without Retry-After")
				}
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		// 5 requests per minute: the self-test does not count (it never
		// crosses HTTP), so at most 5 pass and the rest are refused.
		if codes[http.StatusTooManyRequests] < 15 || codes[http.StatusOK]+codes[http.StatusServiceUnavailable] > 5 {
			t.Errorf("answers by status %v: want at most 5 served and the rest 429", codes)
		}
	})
}
