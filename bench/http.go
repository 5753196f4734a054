package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// DefaultURL is where `make run` serves.
const DefaultURL = "http://127.0.0.1:8000"

// maxAnswerBytes bounds what is read of one answer.
const maxAnswerBytes = 8 << 20

// HTTP is a warmbox daemon reached over HTTP on a loopback address.
type HTTP struct {
	name   string
	base   string
	key    string
	client *http.Client
}

// NewHTTP returns a target for the daemon at rawURL (scheme, loopback
// host and port; DefaultURL when empty). conns is how many connections
// it may keep open, at least the run's concurrency. key, if not empty,
// is sent as a bearer API key.
func NewHTTP(name, rawURL, key string, conns int) (*HTTP, error) {
	if rawURL == "" {
		rawURL = DefaultURL
	}
	u, err := daemonURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	dialer := &net.Dialer{
		Timeout: 5 * time.Second,
		// Checked again on the resolved address, so that a name that
		// resolves elsewhere cannot carry load off this machine.
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			return checkLoopback(host)
		},
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		MaxIdleConns:        conns + 8,
		MaxIdleConnsPerHost: conns + 8,
		IdleConnTimeout:     90 * time.Second,
	}
	return &HTTP{
		name: name,
		base: strings.TrimRight(u.String(), "/"),
		key:  key,
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// daemonURL parses a daemon's base URL and refuses any that is not
// http or https on a loopback host.
func daemonURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url %q: scheme must be http or https", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("url %q: no host", raw)
	}
	if err := checkLoopback(u.Hostname()); err != nil {
		return nil, fmt.Errorf("url %s: %w", raw, err)
	}
	return u, nil
}

// Daemon is one daemon target of a --url list.
type Daemon struct {
	Name string
	URL  string
}

// DaemonName is the name of a daemon given by its URL alone.
const DaemonName = "warm"

// ParseDaemons reads a --url value: one URL, which names the target
// "warm", or a comma-separated list of NAME=URL pairs, such as
// "default=http://127.0.0.1:8000,single=http://127.0.0.1:8001" (one
// entry of the list may still be a bare URL, named "warm"). Every URL
// must be http or https on a loopback host. Names are letters, digits,
// '.', '_' and '-', unique, and neither "cold" nor "exec" (the
// baselines' names).
// An empty spec is DefaultURL.
func ParseDaemons(spec string) ([]Daemon, error) {
	if strings.TrimSpace(spec) == "" {
		spec = DefaultURL
	}
	var out []Daemon
	seen := map[string]bool{}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d := Daemon{Name: DaemonName, URL: part}
		if !strings.HasPrefix(part, "http://") && !strings.HasPrefix(part, "https://") {
			name, raw, ok := strings.Cut(part, "=")
			if !ok {
				return nil, fmt.Errorf("%q: want NAME=URL, or a URL that starts with http:// or https://", part)
			}
			d.Name, d.URL = strings.TrimSpace(name), strings.TrimSpace(raw)
			if err := checkTargetName(d.Name); err != nil {
				return nil, fmt.Errorf("%q: %w", part, err)
			}
		}
		if _, err := daemonURL(d.URL); err != nil {
			return nil, fmt.Errorf("target %s: %w", d.Name, err)
		}
		if seen[d.Name] {
			if d.Name == DaemonName {
				return nil, fmt.Errorf("two targets are named %s (a bare URL is named %s; name each URL with NAME=URL)", d.Name, DaemonName)
			}
			return nil, fmt.Errorf("two targets are named %s", d.Name)
		}
		seen[d.Name] = true
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, errors.New("no URL given")
	}
	return out, nil
}

// checkTargetName accepts the names a report can carry in its table,
// its JSON and its plot without surprise.
func checkTargetName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name before '='")
	case name == "cold" || name == "exec":
		return fmt.Errorf("the name %s belongs to the %s baseline; pick another", name, name)
	case len(name) > 32:
		return fmt.Errorf("name %q: longer than 32 characters", name)
	}
	for i, r := range name {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._-", r)) {
			return fmt.Errorf("name %q: use letters, digits, '.', '_' or '-', starting with a letter or digit", name)
		}
	}
	return nil
}

// Name implements Target.
func (h *HTTP) Name() string { return h.name }

// Describe implements Describer.
func (h *HTTP) Describe() string { return "warmbox daemon, POST " + h.base + "/execute" }

// URL is the daemon's base URL.
func (h *HTTP) URL() string { return h.base }

// Close releases idle connections.
func (h *HTTP) Close() { h.client.CloseIdleConnections() }

// Do implements Target: POST /execute. A 429 answer wraps ErrRateLimited,
// a 401 or 403 ErrUnauthorized.
func (h *HTTP) Do(ctx context.Context, req Request) (Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Response{}, fmt.Errorf("encoding request: %w", err)
	}
	raw, status, hdr, err := h.call(ctx, http.MethodPost, "/execute", body)
	if err != nil {
		return Response{}, err
	}
	if status != http.StatusOK {
		se := &StatusError{Status: status, RetryAfter: hdr.Get("Retry-After")}
		var apiErr struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(raw, &apiErr) == nil {
			se.Code, se.Message = apiErr.Error.Code, apiErr.Error.Message
		}
		switch status {
		case http.StatusTooManyRequests:
			return Response{}, fmt.Errorf("%w: %w", ErrRateLimited, se)
		case http.StatusUnauthorized, http.StatusForbidden:
			return Response{}, fmt.Errorf("%w: %w", ErrUnauthorized, se)
		}
		return Response{}, se
	}
	var out Response
	if err := json.Unmarshal(raw, &out); err != nil {
		return Response{}, WithKind("bad_answer", fmt.Errorf("decoding the answer: %w", err))
	}
	return out, nil
}

// Check makes sure a daemon answers: it fails at once when nothing
// listens, and waits up to wait for /readyz to turn 200 while the daemon
// warms up.
func (h *HTTP) Check(ctx context.Context, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		raw, status, _, err := h.call(cctx, http.MethodGet, "/readyz", nil)
		cancel()
		switch {
		case err != nil:
			return &noDaemonError{url: h.base, err: err}
		case status == http.StatusOK || status == http.StatusNotFound:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("the warmbox daemon at %s is not ready after %s: %s", h.base, wait, bytes.TrimSpace(raw))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Get fetches path and returns its body when it answers 200 with JSON.
func (h *HTTP) Get(ctx context.Context, path string) (json.RawMessage, error) {
	raw, status, _, err := h.call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK || !json.Valid(raw) {
		return nil, fmt.Errorf("GET %s: HTTP %d", path, status)
	}
	return raw, nil
}

func (h *HTTP) call(ctx context.Context, method, path string, body []byte) ([]byte, int, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return nil, 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if h.key != "" {
		req.Header.Set("Authorization", "Bearer "+h.key)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return raw, resp.StatusCode, resp.Header, nil
}

// ErrNoDaemon means nothing answers HTTP at the target's URL.
var ErrNoDaemon = errors.New("no warmbox daemon answers")

type noDaemonError struct {
	url string
	err error
}

func (e *noDaemonError) Error() string        { return fmt.Sprintf("%v at %s: %v", ErrNoDaemon, e.url, e.err) }
func (e *noDaemonError) Is(target error) bool { return target == ErrNoDaemon }
func (e *noDaemonError) Unwrap() error        { return e.err }

// IsRateLimited reports whether err is a 429 answer.
func IsRateLimited(err error) bool { return errors.Is(err, ErrRateLimited) }
