package httpapi

import (
	"crypto/rand"
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/warmbox/warmbox/policy"
)

// E2B compatibility under /e2b, for the unchanged @e2b/code-interpreter
// SDK with E2B_API_URL=E2B_SANDBOX_URL=http://HOST:8000/e2b. An E2B
// sandbox is a group of warmbox sessions, one per code context: its
// default python context, one default context per other language asked
// for, and each context created with POST /e2b/contexts. Each context is
// a session of its own (its own sandbox and uid), so contexts share no
// files, unlike E2B's, where they share a VM. docs/API.md, "E2B".
//
// The control plane (create, list, timeout, connect, kill) carries the
// API key in X-API-Key; the data plane (/execute, /contexts, envd's
// /health) carries the sandbox in E2b-Sandbox-Id and, on the code
// interpreter's port, the trafficAccessToken that create returned.

// e2bEnvdVersion is the envd version warmbox reports: the SDK checks
// that it is semver and at least 0.1.0.
const e2bEnvdVersion = "0.5.2"

// e2bDefaultTimeout is an E2B sandbox's life when create names none.
const e2bDefaultTimeout = 300 * time.Second

// e2bTemplate is the SDK's default template, reported when none is given.
const e2bTemplate = "code-interpreter-v1"

// e2bSandbox is one E2B sandbox: its contexts and its deadline.
type e2bSandbox struct {
	id, template, token, owner string
	started                    time.Time
	metadata                   map[string]string
	envVars                    map[string]string

	mu       sync.Mutex
	endAt    time.Time
	timer    *time.Timer
	contexts map[string]*e2bContext // by context id
	defaults map[string]string      // language → its default context's id
	killed   bool
}

// e2bContext is one code context: a session of one language.
type e2bContext struct {
	id, language, session string
	executions            int
	run                   sync.Mutex // E2B runs one execution of a context at a time
}

// e2bRegistry holds the open E2B sandboxes.
type e2bRegistry struct {
	mu        sync.Mutex
	sandboxes map[string]*e2bSandbox
}

func (s *server) e2bRoutes() []route {
	return []route{
		{http.MethodPost, "/e2b/v2/sandboxes", http.HandlerFunc(s.e2bCreate), "E2B: create a sandbox (a session)"},
		{http.MethodPost, "/e2b/sandboxes", http.HandlerFunc(s.e2bCreate), "E2B: create a sandbox (the older path)"},
		{http.MethodGet, "/e2b/v2/sandboxes", http.HandlerFunc(s.e2bList), "E2B: list the caller's sandboxes"},
		{http.MethodGet, "/e2b/sandboxes/:id", http.HandlerFunc(s.e2bInfo), "E2B: one sandbox"},
		{http.MethodDelete, "/e2b/sandboxes/:id", http.HandlerFunc(s.e2bKill), "E2B: kill a sandbox"},
		{http.MethodPost, "/e2b/sandboxes/:id/timeout", http.HandlerFunc(s.e2bSetTimeout), "E2B: set a sandbox's remaining life"},
		{http.MethodPost, "/e2b/v2/sandboxes/:id/connect", http.HandlerFunc(s.e2bConnect), "E2B: connect to a sandbox, extending its life"},
		{http.MethodPost, "/e2b/execute", http.HandlerFunc(s.e2bExecute), "E2B code interpreter: run code in a context (NDJSON stream)"},
		{http.MethodPost, "/e2b/contexts", http.HandlerFunc(s.e2bCreateContext), "E2B code interpreter: create a context"},
		{http.MethodGet, "/e2b/contexts", http.HandlerFunc(s.e2bListContexts), "E2B code interpreter: list the contexts"},
		{http.MethodDelete, "/e2b/contexts/:id", http.HandlerFunc(s.e2bRemoveContext), "E2B code interpreter: remove a context"},
		{http.MethodPost, "/e2b/contexts/:id/restart", http.HandlerFunc(s.e2bRestartContext), "E2B code interpreter: restart a context"},
		{http.MethodGet, "/e2b/health", http.HandlerFunc(s.e2bHealth), "E2B envd: 204 while the sandbox lives, 502 once it is gone"},
	}
}

// e2bError writes the control plane's error body, {"code", "message"}:
// the SDK reads the code from the body.
func e2bError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{status, msg})
}

// e2bFail writes an apiError in the control plane's shape.
func e2bFail(w http.ResponseWriter, e *apiError) {
	setErrorHeaders(w, e)
	e2bError(w, e.status, e.message)
}

// e2bGone is the data plane's answer for an unknown or killed sandbox,
// as E2B's edge proxy gives it (the SDK raises its TimeoutError).
func e2bGone(w http.ResponseWriter, id string) {
	writeJSON(w, http.StatusBadGateway, struct {
		SandboxID string `json:"sandboxId"`
		Message   string `json:"message"`
		Code      int    `json:"code"`
	}{id, "The sandbox was not found", http.StatusBadGateway})
}

// e2bControl runs the control plane's shared checks: drain, API key
// and, when spend is set, the rate limit. It answers failures itself.
func (s *server) e2bControl(w http.ResponseWriter, r *http.Request, spend bool) (owner string, ok bool) {
	if e := s.gate(r, spend); e != nil {
		e2bFail(w, e)
		return "", false
	}
	return s.owner(r), true
}

// e2bCreateRequest is the body of create (unknown fields ignored, as
// E2B's API ignores them).
type e2bCreateRequest struct {
	TemplateID string            `json:"templateID"`
	Timeout    *float64          `json:"timeout"` // seconds
	Metadata   map[string]string `json:"metadata"`
	EnvVars    map[string]string `json:"envVars"`
}

// e2bSandboxBody is E2B's Sandbox (create, connect).
type e2bSandboxBody struct {
	SandboxID          string  `json:"sandboxID"`
	TemplateID         string  `json:"templateID"`
	Alias              string  `json:"alias"`
	ClientID           string  `json:"clientID"`
	EnvdVersion        string  `json:"envdVersion"`
	TrafficAccessToken string  `json:"trafficAccessToken"`
	Domain             *string `json:"domain"`
}

// e2bListedSandbox is E2B's ListedSandbox (list, info).
type e2bListedSandbox struct {
	SandboxID    string            `json:"sandboxID"`
	TemplateID   string            `json:"templateID"`
	Alias        string            `json:"alias"`
	ClientID     string            `json:"clientID"`
	StartedAt    string            `json:"startedAt"`
	EndAt        string            `json:"endAt"`
	CPUCount     int               `json:"cpuCount"`
	MemoryMB     int               `json:"memoryMB"`
	DiskSizeMB   int               `json:"diskSizeMB"`
	Metadata     map[string]string `json:"metadata"`
	State        string            `json:"state"`
	EnvdVersion  string            `json:"envdVersion"`
	VolumeMounts []string          `json:"volumeMounts"`
}

// POST /e2b/v2/sandboxes, POST /e2b/sandboxes
func (s *server) e2bCreate(w http.ResponseWriter, r *http.Request) {
	owner, ok := s.e2bControl(w, r, true)
	if !ok {
		return
	}
	body, e := readBody(w, r, s.maxBody)
	if e != nil {
		e2bFail(w, e)
		return
	}
	var q e2bCreateRequest
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &q); err != nil {
			e2bError(w, http.StatusBadRequest, "the body must be a JSON object: "+err.Error())
			return
		}
	}
	life, msg := s.e2bLifeOf(q.Timeout, e2bDefaultTimeout)
	if msg != "" {
		e2bError(w, http.StatusBadRequest, msg)
		return
	}
	if q.TemplateID == "" {
		q.TemplateID = e2bTemplate
	}
	sb := &e2bSandbox{
		id: "i" + strings.ToLower(rand.Text()), template: q.TemplateID, token: rand.Text(), owner: owner,
		started: time.Now(), metadata: q.Metadata, envVars: q.EnvVars,
		contexts: map[string]*e2bContext{}, defaults: map[string]string{},
	}
	if sb.metadata == nil {
		sb.metadata = map[string]string{}
	}
	if _, e := s.e2bDefaultContext(r.Context(), sb, "python"); e != nil {
		e2bFail(w, e)
		return
	}
	s.e2b.mu.Lock()
	if s.e2b.sandboxes == nil {
		s.e2b.sandboxes = map[string]*e2bSandbox{}
	}
	s.e2b.sandboxes[sb.id] = sb
	s.e2b.mu.Unlock()
	sb.mu.Lock()
	s.e2bExtend(sb, life, true)
	sb.mu.Unlock()
	writeJSON(w, http.StatusCreated, e2bSandboxBodyOf(sb))
}

func e2bSandboxBodyOf(sb *e2bSandbox) e2bSandboxBody {
	return e2bSandboxBody{SandboxID: sb.id, TemplateID: sb.template, Alias: sb.template, ClientID: "warmbox",
		EnvdVersion: e2bEnvdVersion, TrafficAccessToken: sb.token}
}

// e2bExtend sets the sandbox's end to now+life (always, or only when
// that is later) and arms its kill. sb.mu is held.
func (s *server) e2bExtend(sb *e2bSandbox, life time.Duration, always bool) {
	end := time.Now().Add(life)
	if !always && end.Before(sb.endAt) {
		return
	}
	sb.endAt = end
	if sb.timer != nil {
		sb.timer.Stop()
	}
	sb.timer = time.AfterFunc(life, func() { s.e2bKillSandbox(sb.id) })
}

// e2bKillSandbox closes every context's session and forgets the
// sandbox; false if it was not open.
func (s *server) e2bKillSandbox(id string) bool {
	s.e2b.mu.Lock()
	sb, ok := s.e2b.sandboxes[id]
	delete(s.e2b.sandboxes, id)
	s.e2b.mu.Unlock()
	if !ok {
		return false
	}
	sb.mu.Lock()
	sb.killed = true
	if sb.timer != nil {
		sb.timer.Stop()
	}
	contexts := make([]*e2bContext, 0, len(sb.contexts))
	for _, c := range sb.contexts {
		contexts = append(contexts, c)
	}
	sb.mu.Unlock()
	for _, c := range contexts {
		_ = s.svc.CloseSession(c.session) // an expired or ended session is gone already
	}
	return true
}

// e2bLookup returns the open sandbox id.
func (s *server) e2bLookup(id string) *e2bSandbox {
	s.e2b.mu.Lock()
	defer s.e2b.mu.Unlock()
	return s.e2b.sandboxes[id]
}

// e2bOwned returns the open sandbox id if owner created it: a caller
// cannot see, extend or kill another's sandbox.
func (s *server) e2bOwned(id, owner string) *e2bSandbox {
	if sb := s.e2bLookup(id); sb != nil && sb.owner == owner {
		return sb
	}
	return nil
}

// e2bOwns reports whether session id is an E2B context's.
func (s *server) e2bOwns(session string) bool {
	s.e2b.mu.Lock()
	list := make([]*e2bSandbox, 0, len(s.e2b.sandboxes))
	for _, sb := range s.e2b.sandboxes {
		list = append(list, sb)
	}
	s.e2b.mu.Unlock()
	for _, sb := range list {
		sb.mu.Lock()
		for _, c := range sb.contexts {
			if c.session == session {
				sb.mu.Unlock()
				return true
			}
		}
		sb.mu.Unlock()
	}
	return false
}

// GET /e2b/v2/sandboxes
func (s *server) e2bList(w http.ResponseWriter, r *http.Request) {
	owner, ok := s.e2bControl(w, r, false)
	if !ok {
		return
	}
	s.e2b.mu.Lock()
	list := make([]*e2bSandbox, 0, len(s.e2b.sandboxes))
	for _, sb := range s.e2b.sandboxes {
		if sb.owner == owner {
			list = append(list, sb)
		}
	}
	s.e2b.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].started.Before(list[j].started) })
	out := make([]e2bListedSandbox, 0, len(list))
	for _, sb := range list {
		out = append(out, s.e2bListed(sb))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) e2bListed(sb *e2bSandbox) e2bListedSandbox {
	lim := policy.DefaultLimits()
	if l, ok := s.svc.Limits("python"); ok {
		lim = l.Limits
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return e2bListedSandbox{
		SandboxID: sb.id, TemplateID: sb.template, Alias: sb.template, ClientID: "warmbox",
		StartedAt: sb.started.UTC().Format(time.RFC3339Nano), EndAt: sb.endAt.UTC().Format(time.RFC3339Nano),
		CPUCount: max(1, int(math.Ceil(lim.CPUs))), MemoryMB: int(lim.MemoryMB), DiskSizeMB: int(lim.TmpfsMB),
		Metadata: sb.metadata, State: "running", EnvdVersion: e2bEnvdVersion, VolumeMounts: []string{},
	}
}

// GET /e2b/sandboxes/:id
func (s *server) e2bInfo(w http.ResponseWriter, r *http.Request) {
	owner, ok := s.e2bControl(w, r, false)
	if !ok {
		return
	}
	id := httprouter.ParamsFromContext(r.Context()).ByName("id")
	sb := s.e2bOwned(id, owner)
	if sb == nil {
		e2bNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, s.e2bListed(sb))
}

func e2bNotFound(w http.ResponseWriter, id string) {
	e2bError(w, http.StatusNotFound, "sandbox "+quote(id)+" doesn't exist or you don't have access to it")
}

// DELETE /e2b/sandboxes/:id
func (s *server) e2bKill(w http.ResponseWriter, r *http.Request) {
	owner, ok := s.e2bControl(w, r, false)
	if !ok {
		return
	}
	id := httprouter.ParamsFromContext(r.Context()).ByName("id")
	if s.e2bOwned(id, owner) == nil || !s.e2bKillSandbox(id) {
		e2bNotFound(w, id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// e2bTimeoutRequest is the body of timeout and connect: seconds.
type e2bTimeoutRequest struct {
	Timeout *float64 `json:"timeout"`
}

// e2bLife reads {"timeout": seconds} (absent: fallback), capped at the
// sessions' maximum lifetime.
func (s *server) e2bLife(w http.ResponseWriter, r *http.Request, fallback time.Duration) (time.Duration, bool) {
	body, e := readBody(w, r, s.maxBody)
	if e != nil {
		e2bFail(w, e)
		return 0, false
	}
	var q e2bTimeoutRequest
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &q); err != nil {
			e2bError(w, http.StatusBadRequest, "the body must be a JSON object: "+err.Error())
			return 0, false
		}
	}
	life, msg := s.e2bLifeOf(q.Timeout, fallback)
	if msg != "" {
		e2bError(w, http.StatusBadRequest, msg)
		return 0, false
	}
	return life, true
}

// e2bLifeOf is a sandbox's life from E2B's timeout field, whole seconds
// rounded up (absent: fallback), capped at the sessions' maximum
// lifetime; or the message refusing it.
func (s *server) e2bLifeOf(timeout *float64, fallback time.Duration) (time.Duration, string) {
	life := fallback
	if timeout != nil {
		if *timeout < 1 || math.IsInf(*timeout, 0) {
			return 0, "timeout must be at least 1 second"
		}
		life = time.Duration(math.Ceil(*timeout)) * time.Second
	}
	return min(life, s.svc.SessionConfig().MaxLifetime), ""
}

// POST /e2b/sandboxes/:id/timeout: the sandbox lives timeout seconds
// from now (longer or shorter than before).
func (s *server) e2bSetTimeout(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.e2bExtendFromBody(w, r, true); ok {
		w.WriteHeader(http.StatusNoContent)
	}
}

// POST /e2b/v2/sandboxes/:id/connect: extends the sandbox's life to at
// least timeout (300 s) from now, never shortens it.
func (s *server) e2bConnect(w http.ResponseWriter, r *http.Request) {
	if sb, ok := s.e2bExtendFromBody(w, r, false); ok {
		writeJSON(w, http.StatusOK, e2bSandboxBodyOf(sb))
	}
}

// e2bExtendFromBody is timeout's and connect's common part: the caller's
// sandbox named in the path lives the body's timeout (300 s) from now
// (always, or only when that is later). It answers failures itself.
func (s *server) e2bExtendFromBody(w http.ResponseWriter, r *http.Request, always bool) (*e2bSandbox, bool) {
	owner, ok := s.e2bControl(w, r, false)
	if !ok {
		return nil, false
	}
	id := httprouter.ParamsFromContext(r.Context()).ByName("id")
	life, ok := s.e2bLife(w, r, e2bDefaultTimeout)
	if !ok {
		return nil, false
	}
	sb := s.e2bOwned(id, owner)
	if sb == nil {
		e2bNotFound(w, id)
		return nil, false
	}
	sb.mu.Lock()
	s.e2bExtend(sb, life, always)
	sb.mu.Unlock()
	return sb, true
}
