package httpapi

import (
	"context"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
)

// timeFormat is RFC 3339 with milliseconds, always in UTC.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func timestamp(t time.Time) string { return t.UTC().Format(timeFormat) }

// jsonFloat always encodes with a decimal point ("50.0", not "50"), as
// the original service's floats did, so that strictly typed clients keep
// reading a float.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	b := strconv.AppendFloat(nil, v, 'f', -1, 64)
	if !strings.ContainsRune(string(b), '.') {
		b = append(b, '.', '0')
	}
	return b, nil
}

// round3 rounds to 3 decimals.
func round3(v float64) jsonFloat { return jsonFloat(math.Round(v*1000) / 1000) }

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) jsonFloat { return round3(float64(d) / float64(time.Millisecond)) }

// GET /
func (s *server) root(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{
		"service":       "warmbox",
		"version":       s.opts.Version,
		"status":        "operational",
		"documentation": "/docs",
	})
}

// GET /docs
func (s *server) docs(w http.ResponseWriter, _ *http.Request) {
	type doc struct {
		Method      string `json:"method"`
		Path        string `json:"path"`
		Description string `json:"description"`
	}
	var routes []doc
	for _, rt := range s.routes() {
		routes = append(routes, doc{rt.method, rt.path, rt.doc})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"documentation": "docs/API.md in the warmbox repository",
		"routes":        routes,
	})
}

// ping checks the engine, briefly.
func (s *server) ping(ctx context.Context) error {
	if s.opts.Ping == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	return s.opts.Ping(ctx)
}

type languageHealth struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason"`
	Idle   int    `json:"idle"`
	Busy   int    `json:"busy"`
	Target int    `json:"target"`
}

// languageStatus is languageHealth for a caller who may not see details.
type languageStatus struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason"`
}

// detailed reports whether r may see the details of /health and /readyz
// (engine and self-test errors, pool sizes): with API keys configured, a
// caller with a valid key; without keys, a caller on loopback (trusted
// proxies considered). Anyone else gets the booleans and fixed reasons.
func (s *server) detailed(r *http.Request) bool {
	if s.opts.Auth.Enabled() {
		return s.authenticate(r) == nil
	}
	return policy.IsLoopback(s.clientIP(r))
}

// summary is a language's reason for not being ready, in words that
// carry no detail.
func summary(l dispatch.LanguageHealth) string {
	switch {
	case l.Ready:
		return ""
	case l.Summary != "":
		return l.Summary
	}
	return "not ready"
}

// GET /health: the original shape plus per-language state. 503 while the
// engine is unreachable. Reasons and pool sizes only for detailed
// callers.
func (s *server) health(w http.ResponseWriter, r *http.Request) {
	engineErr := s.ping(r.Context())
	langs := s.svc.Health()
	detailed := s.detailed(r)
	body := struct {
		Status           string         `json:"status"`
		DockerAvailable  bool           `json:"docker_available"`
		Timestamp        string         `json:"timestamp"`
		ActiveContainers int            `json:"active_containers"`
		Languages        map[string]any `json:"languages"`
	}{
		Status:          "healthy",
		DockerAvailable: engineErr == nil,
		Timestamp:       timestamp(time.Now()),
		Languages:       make(map[string]any, len(langs)),
	}
	for _, l := range langs {
		body.ActiveContainers += l.Idle + l.Busy
		if detailed {
			body.Languages[l.Name] = languageHealth{Ready: l.Ready, Reason: l.Reason, Idle: l.Idle, Busy: l.Busy, Target: l.Target}
		} else {
			body.Languages[l.Name] = languageStatus{Ready: l.Ready, Reason: summary(l)}
		}
		if !l.Ready {
			body.Status = "degraded"
		}
	}
	status := http.StatusOK
	if engineErr != nil {
		body.Status = "degraded"
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

// GET /healthz: liveness.
func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// GET /readyz: 200 when the engine answers, every language is ready and
// shutdown has not begun; otherwise 503 with the reasons (fixed words
// unless the caller is detailed).
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	reasons := []string{}
	if s.stopping() || s.draining() {
		reasons = append(reasons, "shutting down")
	}
	if err := s.ping(r.Context()); err != nil {
		reasons = append(reasons, "engine unreachable")
	}
	detailed := s.detailed(r)
	for _, l := range s.svc.Health() {
		switch {
		case l.Ready:
		case detailed:
			reasons = append(reasons, l.Name+": "+l.Reason)
		default:
			reasons = append(reasons, l.Name+": "+summary(l))
		}
	}
	if len(reasons) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not_ready", "reasons": reasons})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "reasons": reasons})
}

type environmentLimits struct {
	TimeoutSeconds    int64 `json:"timeout_seconds"`
	MaxTimeoutSeconds int64 `json:"max_timeout_seconds"`
	// CompileTimeoutSeconds bounds a compiled language's compile stage.
	CompileTimeoutSeconds int64 `json:"compile_timeout_seconds"`
	// CompileMemoryMB and CompileCPUTimeSeconds are the compile stage's
	// memory and CPU time (0: no CPU limit but its timeout).
	CompileMemoryMB       int64     `json:"compile_memory_mb"`
	CompileCPUTimeSeconds int64     `json:"compile_cpu_time_seconds"`
	MemoryMB              int64     `json:"memory_mb"`
	CPUs                  jsonFloat `json:"cpus"`
	Pids                  int64     `json:"pids"`
	OutputBytes           int       `json:"output_bytes"`
	CodeBytes             int       `json:"code_bytes"`
	StdinBytes            int       `json:"stdin_bytes"`
	MaxFiles              int       `json:"max_files"`
	MaxArgs               int       `json:"max_args"`
}

type environmentDetail struct {
	Image         string `json:"image"`
	FileExtension string `json:"file_extension"`
	EntryFile     string `json:"entry_file"`
	Version       string `json:"version"`
	Handoff       string `json:"handoff"`
	Runtime       string `json:"runtime"`
	// Command runs the program; Compile, null for an interpreted
	// language, runs first with the entry file appended.
	Command []string `json:"command"`
	Compile []string `json:"compile"`
	// Preload are the modules imported ahead in the pre-started
	// interpreter; empty when none.
	Preload []string `json:"preload"`
	// Packages are the Debian packages its image was built from, as
	// "name=version"; empty when the backend cannot tell (Kubernetes).
	Packages []string          `json:"packages"`
	Limits   environmentLimits `json:"limits"`
}

// GET /environments
func (s *server) environments(w http.ResponseWriter, _ *http.Request) {
	infos := s.svc.Languages()
	body := struct {
		Environments []string                     `json:"environments"`
		Details      map[string]environmentDetail `json:"details"`
	}{Environments: make([]string, 0, len(infos)), Details: make(map[string]environmentDetail, len(infos))}
	for _, in := range infos {
		l := in.Limits
		runtime := in.Runtime
		if runtime == "" {
			runtime = "default"
		}
		body.Environments = append(body.Environments, in.Name)
		body.Details[in.Name] = environmentDetail{
			Image:         in.Image,
			FileExtension: strings.TrimPrefix(path.Ext(in.File), "."),
			EntryFile:     in.File,
			Version:       in.Version,
			Handoff:       in.Handoff,
			Runtime:       runtime,
			Command:       in.Command,
			Compile:       in.Compile,
			Preload:       append([]string{}, in.Preload...),
			Packages:      append([]string{}, in.Packages...),
			Limits: environmentLimits{
				TimeoutSeconds:        int64(l.Timeout / time.Second),
				MaxTimeoutSeconds:     int64(l.MaxTimeout / time.Second),
				CompileTimeoutSeconds: int64(l.CompileTimeout / time.Second),
				CompileMemoryMB:       l.CompilerMemoryMB(),
				CompileCPUTimeSeconds: int64(l.CompileCPUTime / time.Second),
				MemoryMB:              l.MemoryMB,
				CPUs:                  jsonFloat(l.CPUs),
				Pids:                  l.Pids,
				OutputBytes:           l.OutputBytes,
				CodeBytes:             l.CodeBytes,
				StdinBytes:            l.StdinBytes,
				MaxFiles:              l.MaxFiles,
				MaxArgs:               l.MaxArgs,
			},
		}
	}
	writeJSON(w, http.StatusOK, body)
}

type poolStats struct {
	Idle            int               `json:"idle"`
	Busy            int               `json:"busy"`
	Resetting       int               `json:"resetting"`
	Creating        int               `json:"creating"`
	Destroying      int               `json:"destroying"`
	Waiting         int               `json:"waiting"`
	Target          int               `json:"target"`
	MinIdle         int               `json:"min_idle"`
	MaxSize         int               `json:"max_size"`
	MaxUses         int               `json:"max_uses"`
	Acquired        uint64            `json:"acquired"`
	AcquireTimeouts uint64            `json:"acquire_timeouts"`
	Created         uint64            `json:"created"`
	CreateFailures  uint64            `json:"create_failures"`
	Destroyed       map[string]uint64 `json:"destroyed"`
	Degraded        bool              `json:"degraded"`
	LastError       string            `json:"last_error"`
	BackoffUntil    *string           `json:"backoff_until"`
}

// sessionStats is /stats' view of the sessions: open now, of which
// running a cell, and the caps.
type sessionStats struct {
	Open         int `json:"open"`
	Running      int `json:"running"`
	Max          int `json:"max"`
	MaxPerClient int `json:"max_per_client"`
}

// GET /stats: the original shape plus pools and execution counts.
func (s *server) stats(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	infos := s.svc.Languages()
	type rateLimit struct {
		WindowSeconds int64 `json:"window_seconds"`
		MaxRequests   int   `json:"max_requests"`
		Enabled       bool  `json:"enabled"`
		MaxConcurrent int   `json:"max_concurrent"` // per client; 0 = no cap
	}
	type resourceLimits struct {
		Memory         string    `json:"memory"`
		CPUPercent     jsonFloat `json:"cpu_percent"`
		TimeoutSeconds int64     `json:"timeout_seconds"`
	}
	body := struct {
		ActiveExecutions      int                  `json:"active_executions"`
		TotalContainers       int                  `json:"total_containers"`
		SupportedEnvironments []string             `json:"supported_environments"`
		RateLimit             rateLimit            `json:"rate_limit"`
		ResourceLimits        resourceLimits       `json:"resource_limits"`
		Timestamp             string               `json:"timestamp"`
		Pools                 map[string]poolStats `json:"pools"`
		Executions            map[string]uint64    `json:"executions"`
		Sessions              sessionStats         `json:"sessions"`
	}{
		SupportedEnvironments: make([]string, 0, len(infos)),
		RateLimit: rateLimit{
			WindowSeconds: int64(s.opts.RateLimit.Window / time.Second),
			MaxRequests:   s.opts.RateLimit.Requests,
			Enabled:       s.opts.RateLimit.Enabled() && s.opts.Limiter != nil,
			MaxConcurrent: s.opts.Concurrency.Max(),
		},
		Timestamp: timestamp(now),
		Pools:     map[string]poolStats{},
		Executions: map[string]uint64{
			"success": s.success.Load(),
			"error":   s.failed.Load(),
			"timeout": s.timedOut.Load(),
		},
	}
	for _, in := range infos {
		body.SupportedEnvironments = append(body.SupportedEnvironments, in.Name)
	}
	// The original reported one set of limits; report the first
	// language's (they are usually the same for all).
	lim := policy.DefaultLimits()
	if len(infos) > 0 {
		lim = infos[0].Limits
	}
	body.ResourceLimits = resourceLimits{
		Memory:         strconv.FormatInt(lim.MemoryMB, 10) + "m",
		CPUPercent:     jsonFloat(math.Round(lim.CPUs*100*10) / 10),
		TimeoutSeconds: int64(lim.Timeout / time.Second),
	}
	cfg := s.svc.SessionConfig()
	body.Sessions = sessionStats{Max: cfg.Max, MaxPerClient: cfg.MaxPerClient}
	for _, info := range s.svc.Sessions("") {
		body.Sessions.Open++
		if info.Running {
			body.Sessions.Running++
		} else {
			// Its sandbox is busy (leased) but runs nothing.
			body.ActiveExecutions--
		}
	}
	for _, st := range s.svc.Stats() {
		body.ActiveExecutions += st.Busy - st.Resetting
		body.TotalContainers += st.Idle + st.Busy + st.Creating
		destroyed := make(map[string]uint64, len(st.Destroyed))
		for reason, n := range st.Destroyed {
			destroyed[string(reason)] = n
		}
		var backoff *string
		if st.BackoffUntil.After(now) {
			b := timestamp(st.BackoffUntil)
			backoff = &b
		}
		body.Pools[st.Name] = poolStats{
			Idle: st.Idle, Busy: st.Busy, Resetting: st.Resetting, Creating: st.Creating, Destroying: st.Destroying, Waiting: st.Waiting,
			Target: st.Target, MinIdle: st.MinIdle, MaxSize: st.MaxSize, MaxUses: st.MaxUses,
			Acquired: st.Acquired, AcquireTimeouts: st.AcquireTimeouts, Created: st.Created,
			CreateFailures: st.CreateFailures, Destroyed: destroyed, Degraded: st.Degraded,
			LastError: st.LastError, BackoffUntil: backoff,
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// served lists the served languages' names.
func (s *server) served() []string {
	infos := s.svc.Languages()
	names := make([]string, 0, len(infos))
	for _, in := range infos {
		names = append(names, in.Name)
	}
	return names
}
