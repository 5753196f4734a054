package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/policy"
)

const okBody = `{"code":"x","environment":"python"}`

func TestContentType(t *testing.T) {
	tests := []struct {
		name     string
		header   http.Header
		want     int
		wantCode string
	}{
		{"json", http.Header{"Content-Type": {"application/json"}}, 200, ""},
		{"json utf-8", http.Header{"Content-Type": {"application/json; charset=utf-8"}}, 200, ""},
		{"missing", http.Header{}, 415, "unsupported_media_type"},
		{"text/plain", http.Header{"Content-Type": {"text/plain"}}, 415, "unsupported_media_type"},
		{"form", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, 415, "unsupported_media_type"},
		{"multipart", http.Header{"Content-Type": {"multipart/form-data; boundary=x"}}, 415, "unsupported_media_type"},
		{"utf-16", http.Header{"Content-Type": {"application/json; charset=utf-16"}}, 415, "unsupported_media_type"},
		{"garbage", http.Header{"Content-Type": {";;;"}}, 415, "unsupported_media_type"},
		{"gzip", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}, 415, "unsupported_encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t)
			w := a.do(http.MethodPost, "/execute", okBody, tt.header, "")
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body.String())
			}
			if tt.wantCode != "" {
				if code := errorCode(t, w); code != tt.wantCode {
					t.Errorf("code %q, want %q", code, tt.wantCode)
				}
			}
		})
	}
}

// startServer runs the API on a real listener (closed at cleanup).
func startServer(t *testing.T, a *testAPI) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(a.h)
	t.Cleanup(srv.Close)
	return srv
}

func TestBodyLimit(t *testing.T) {
	a := newAPI(t, func(o *Options) { o.MaxBodyBytes = 1024 })
	srv := startServer(t, a)
	big := `{"code":"x","environment":"python","stdin":"` + strings.Repeat("s", 2000) + `"}`
	tests := []struct {
		name    string
		body    io.Reader
		length  int64 // -1 = chunked
		want    int
		wantErr string
	}{
		{"declared length over the limit", strings.NewReader(big), int64(len(big)), 413, "body_too_large"},
		{"chunked over the limit", io.MultiReader(strings.NewReader(big)), -1, 413, "body_too_large"},
		{"at the limit", strings.NewReader(okBody + strings.Repeat(" ", 1024-len(okBody))), 1024, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/execute", tt.body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = tt.length
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if tt.wantErr != "" && !strings.Contains(string(body), `"code":"`+tt.wantErr+`"`) {
				t.Errorf("body %s lacks %s", body, tt.wantErr)
			}
		})
	}
	if n := len(a.svc.calls()); n != 1 {
		t.Errorf("Execute called %d times, want 1 (only the request within the limit)", n)
	}
}

func TestBodyLimitBeforeContinue(t *testing.T) {
	// A 10 GB declared body with Expect: 100-continue is refused before
	// the server asks for the body.
	a := newAPI(t)
	srv := startServer(t, a)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Content-Length: 10000000000\r\nExpect: 100-continue\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413 (and no 100 Continue first)", resp.StatusCode)
	}
}

func TestRateLimit(t *testing.T) {
	rl := policy.RateLimit{Requests: 3, Window: time.Minute}
	trusted, err := policy.NewClientResolver([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	newLimited := func(t *testing.T) *testAPI {
		return newAPI(t, func(o *Options) {
			o.Limiter = policy.NewLimiter(rl)
			o.RateLimit = rl
			o.Clients = trusted
		})
	}
	post := func(a *testAPI, remote string, xff ...string) *httptest.ResponseRecorder {
		h := http.Header{"Content-Type": {"application/json"}}
		for _, x := range xff {
			h.Add("X-Forwarded-For", x)
		}
		return a.do(http.MethodPost, "/execute", okBody, h, remote)
	}

	t.Run("N+1 is refused with Retry-After", func(t *testing.T) {
		a := newLimited(t)
		for i := range 3 {
			if w := post(a, "203.0.113.5:1000"); w.Code != 200 {
				t.Fatalf("request %d: status %d", i, w.Code)
			}
		}
		w := post(a, "203.0.113.5:1000")
		if w.Code != http.StatusTooManyRequests || errorCode(t, w) != "rate_limited" {
			t.Fatalf("4th request: %d %s, want 429 rate_limited", w.Code, w.Body.String())
		}
		if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 20 {
			t.Errorf("Retry-After %q, want whole seconds in 1..20", w.Header().Get("Retry-After"))
		}
		if n := len(a.svc.calls()); n != 3 {
			t.Errorf("Execute called %d times, want 3", n)
		}
		if !slices.Contains(a.rec.rejected, "rate_limited") {
			t.Errorf("rejected %v lacks rate_limited", a.rec.rejected)
		}
	})
	t.Run("invalid requests are charged too", func(t *testing.T) {
		a := newLimited(t)
		for range 3 {
			a.do(http.MethodPost, "/execute", `{`, jsonHeader, "203.0.113.5:1000")
		}
		if w := post(a, "203.0.113.5:1000"); w.Code != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", w.Code)
		}
	})
	t.Run("spoofed X-Forwarded-For from an untrusted peer does not escape", func(t *testing.T) {
		a := newLimited(t)
		for i := range 3 {
			if w := post(a, "203.0.113.5:1000", fmt.Sprintf("198.51.100.%d", i)); w.Code != 200 {
				t.Fatalf("request %d: status %d", i, w.Code)
			}
		}
		if w := post(a, "203.0.113.5:1000", "198.51.100.99"); w.Code != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429 despite a new X-Forwarded-For", w.Code)
		}
	})
	t.Run("trusted proxy's clients are told apart", func(t *testing.T) {
		a := newLimited(t)
		for i := range 3 {
			post(a, "10.0.0.2:80", "198.51.100.1")
			if w := post(a, "10.0.0.2:80", fmt.Sprintf("198.51.100.%d", 10+i)); w.Code != 200 {
				t.Fatalf("distinct client %d behind the proxy: status %d", i, w.Code)
			}
		}
		if w := post(a, "10.0.0.2:80", "198.51.100.1"); w.Code != http.StatusTooManyRequests {
			t.Fatalf("4th request of one client behind the proxy: status %d, want 429", w.Code)
		}
		if w := post(a, "10.0.0.2:80", "6.6.6.6, 198.51.100.1"); w.Code != http.StatusTooManyRequests {
			t.Fatalf("client prepending a fake hop: status %d, want 429", w.Code)
		}
	})
	t.Run("IPv6 clients share their /64", func(t *testing.T) {
		a := newLimited(t)
		for i := range 3 {
			post(a, fmt.Sprintf("[2001:db8::%x]:1", i+1))
		}
		if w := post(a, "[2001:db8::ffff]:1"); w.Code != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429 for another address in the same /64", w.Code)
		}
	})
}

func TestAuth(t *testing.T) {
	const key = "test-key-0123456789"
	rl := policy.RateLimit{Requests: 2, Window: time.Minute}
	newAuthed := func(t *testing.T) *testAPI {
		return newAPI(t, func(o *Options) {
			o.Auth = policy.Auth{Keys: []string{key}}
			o.Limiter = policy.NewLimiter(rl)
		})
	}
	tests := []struct {
		name     string
		target   string
		header   http.Header
		want     int
		wantCode string
	}{
		{"no key", "/execute", http.Header{}, 401, "unauthorized"},
		{"wrong key", "/execute", http.Header{"Authorization": {"Bearer nope-nope-nope-nope"}}, 401, "unauthorized"},
		{"bearer", "/execute", http.Header{"Authorization": {"Bearer " + key}}, 200, ""},
		{"x-api-key", "/execute", http.Header{"X-Api-Key": {key}}, 200, ""},
		{"key in query", "/execute?api_key=" + key, http.Header{}, 400, "key_in_query"},
		{"key in query with header", "/execute?token=" + key, http.Header{"Authorization": {"Bearer " + key}}, 400, "key_in_query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAuthed(t)
			tt.header.Set("Content-Type", "application/json")
			w := a.do(http.MethodPost, tt.target, okBody, tt.header, "")
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body.String())
			}
			if tt.wantCode != "" && errorCode(t, w) != tt.wantCode {
				t.Errorf("code %q, want %q", errorCode(t, w), tt.wantCode)
			}
			if tt.want == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if strings.Contains(w.Body.String(), key) {
				t.Error("the key is echoed")
			}
		})
	}
	t.Run("401s are not charged to the rate budget", func(t *testing.T) {
		a := newAuthed(t)
		for range 5 {
			a.do(http.MethodPost, "/execute", okBody, jsonHeader, "")
		}
		h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + key}}
		if w := a.do(http.MethodPost, "/execute", okBody, h, ""); w.Code != 200 {
			t.Fatalf("status %d after failed attempts, want 200", w.Code)
		}
	})
	t.Run("stats needs the key, health does not", func(t *testing.T) {
		a := newAuthed(t)
		if w := a.get("/stats"); w.Code != 401 {
			t.Errorf("/stats without key: %d, want 401", w.Code)
		}
		if w := a.do(http.MethodGet, "/stats", "", http.Header{"X-API-Key": {key}}, ""); w.Code != 200 {
			t.Errorf("/stats with key: %d, want 200", w.Code)
		}
		for _, p := range []string{"/", "/health", "/healthz", "/readyz", "/environments"} {
			if w := a.get(p); w.Code != 200 {
				t.Errorf("%s without key: %d, want 200", p, w.Code)
			}
		}
	})
}

func TestCORS(t *testing.T) {
	preflight := func(origin string) http.Header {
		return http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"POST"},
			"Access-Control-Request-Headers": {"content-type, authorization"}}
	}
	tests := []struct {
		name        string
		origins     []string
		method      string
		path        string
		header      http.Header
		want        int
		wantOrigin  string
		wantMethods bool
	}{
		{"preflight allowed", []string{"https://app.example"}, http.MethodOptions, "/execute", preflight("https://app.example"), 204, "https://app.example", true},
		{"preflight denied", []string{"https://app.example"}, http.MethodOptions, "/execute", preflight("https://evil.example"), 204, "", false},
		{"preflight any origin", []string{"*"}, http.MethodOptions, "/execute", preflight("https://x.example"), 204, "*", true},
		{"preflight unknown route", []string{"*"}, http.MethodOptions, "/nope", preflight("https://x.example"), 404, "*", false},
		{"no CORS configured", nil, http.MethodOptions, "/execute", preflight("https://app.example"), 204, "", false},
		{"simple request allowed", []string{"https://app.example"}, http.MethodGet, "/health", http.Header{"Origin": {"https://app.example"}}, 200, "https://app.example", false},
		{"simple request denied", []string{"https://app.example"}, http.MethodGet, "/health", http.Header{"Origin": {"https://evil.example"}}, 200, "", false},
		{"no origin", []string{"https://app.example"}, http.MethodGet, "/health", http.Header{}, 200, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t, func(o *Options) { o.CORSOrigins = tt.origins })
			w := a.do(tt.method, tt.path, "", tt.header, "")
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			h := w.Header()
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.wantOrigin {
				t.Errorf("Allow-Origin %q, want %q", got, tt.wantOrigin)
			}
			if got := h.Get("Access-Control-Allow-Methods") != ""; got != tt.wantMethods {
				t.Errorf("Allow-Methods present %v, want %v", got, tt.wantMethods)
			}
			if tt.wantMethods {
				if !strings.Contains(h.Get("Access-Control-Allow-Headers"), "X-API-Key") || h.Get("Access-Control-Max-Age") == "" ||
					!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
					t.Errorf("preflight headers %v", h)
				}
			}
			if len(tt.origins) > 0 && !slices.Contains(tt.origins, "*") && !slices.Contains(h.Values("Vary"), "Origin") {
				t.Errorf("Vary %v lacks Origin", h.Values("Vary"))
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials must not be allowed")
			}
		})
	}
	t.Run("execute answer carries the origin", func(t *testing.T) {
		a := newAPI(t, func(o *Options) { o.CORSOrigins = []string{"https://app.example"} })
		h := http.Header{"Content-Type": {"application/json"}, "Origin": {"https://app.example"}}
		w := a.do(http.MethodPost, "/execute", okBody, h, "")
		if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Fatalf("status %d, Allow-Origin %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
		}
	})
}
