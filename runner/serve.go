package runner

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/warmbox/warmbox/runner/wire"
)

// serveConfig is the command line of serve mode.
type serveConfig struct {
	boot    *bootstrap // nil: nothing is pre-started
	env     []string   // the interpreter's whole environment
	command []string   // the interpreter, as in Job.Command
	// readyOnHello: write the ready frame only when asked with a "hello"
	// request, not at start. For a backend whose attach stream connects
	// after the container started (Kubernetes): a frame written before
	// would be lost, or arrive next to the answer to hello.
	readyOnHello bool
	ids          uids // the sandbox's uid block
}

// envFlags collects repeated --env KEY=VALUE flags.
type envFlags []string

func (e *envFlags) String() string { return strings.Join(*e, " ") }

func (e *envFlags) Set(v string) error {
	k, _, ok := strings.Cut(v, "=")
	if !ok || k == "" || strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%s: want KEY=VALUE", wire.QuoteName(v))
	}
	*e = append(*e, v)
	return nil
}

// parseServe parses serve's arguments:
//
//	--runner-uid UID [--bootstrap python|node|bash] [--preload MODULE,...] [--ready-on-hello] [--env KEY=VALUE]... -- COMMAND...
//
// The interpreter's environment is exactly the --env entries, in order
// (none: empty), as Job.Env is the program's whole environment: a job
// whose Env or Command differs from these is started cold.
func parseServe(args []string) (serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	boot := fs.String("bootstrap", "", "")
	preload := fs.String("preload", "", "")
	readyOnHello := fs.Bool("ready-on-hello", false, "")
	runnerUID := fs.Int("runner-uid", 0, "")
	var env envFlags
	fs.Var(&env, "env", "")
	if err := fs.Parse(args); err != nil {
		return serveConfig{}, err
	}
	cfg := serveConfig{env: env, command: fs.Args(), readyOnHello: *readyOnHello, ids: uids{runner: *runnerUID}}
	if err := wire.ValidRunnerUID(*runnerUID); err != nil {
		return serveConfig{}, fmt.Errorf("--runner-uid: %w", err)
	}
	if len(cfg.command) == 0 || cfg.command[0] == "" {
		return serveConfig{}, errors.New("missing COMMAND after --")
	}
	for _, a := range cfg.command {
		if strings.IndexByte(a, 0) >= 0 {
			return serveConfig{}, errors.New("COMMAND must not contain NUL")
		}
	}
	if *boot != "" {
		b, err := lookupBootstrap(*boot)
		if err != nil {
			return serveConfig{}, err
		}
		if cfg.boot, err = b.withPreload(strings.FieldsFunc(*preload, func(r rune) bool { return r == ',' || r == ' ' })); err != nil {
			return serveConfig{}, fmt.Errorf("--preload: %w", err)
		}
	} else if *preload != "" {
		return serveConfig{}, errors.New("--preload needs --bootstrap")
	}
	return cfg, nil
}

// server is serve mode: the sandbox's PID 1, reading Request frames on
// stdin (the container's attach stream) and answering Reply frames on
// stdout. One goroutine runs it.
type server struct {
	cfg  serveConfig
	opt  options
	r    *reaper  // every child of PID 1, for the container's whole life
	warm *interp  // the pre-started interpreter, if one waits
	sess *session // the session interpreter, once a cell ran
	out  *frameWriter
	// n is the number of the next or current job (from 1); its uid is
	// cfg.ids.job(n). used: job n has run, and only a reset (which moves
	// to n+1) makes the sandbox take another.
	n    int
	used bool
}

// serve runs serve mode until stdin ends (exit status 0), a frame cannot
// be read (2) or a reply cannot be written (1).
//
// As PID 1 of its PID namespace the runner cannot be killed from inside
// the sandbox: the kernel drops SIGKILL and SIGSTOP sent to init from its
// own namespace (kill(-1) skips it anyway), and every other signal
// either has no handler (dropped as well) or is caught by harden and
// dropped. What a job can still do: wake the runner with signals
// (SIGCHLD, SIGURG...), and get it OOM-killed with the container; then
// the daemon sees the attach stream end.
func serve(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseServe(args)
	if err != nil {
		fmt.Fprintf(stderr, "warmbox-runner serve: %v\n%s", err, usage)
		return 2
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "warmbox-runner: "+format+"\n", args...)
	}
	s := &server{cfg: cfg, opt: defaultOptions(logf), out: &frameWriter{w: stdout}, n: 1}
	if err := harden(cfg.ids.runner, true); err != nil {
		logf("%v", err)
		s.reply(wire.Reply{Kind: "ready", Error: "runner setup failed: " + err.Error()})
		return 1
	}
	s.r = newReaper()
	defer s.r.stop()

	ready := wire.Reply{Kind: "ready"}
	if err := s.prestart(); err != nil {
		ready.Error = err.Error()
	}
	if !cfg.readyOnHello && s.reply(ready) != nil {
		return 1
	}
	for {
		var req wire.Request
		if err := wire.ReadFrame(stdin, &req); err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			// The stream may be out of step: answer once and stop.
			logf("read request: %v", err)
			s.reply(wire.Reply{Kind: "result", Result: &wire.Result{Error: frameError(err)}})
			return 2
		}
		var rep wire.Reply
		switch req.Op {
		case "run":
			// Acknowledge first: a daemon that gets no ack knows the job
			// never started (a frozen or dead sandbox) and may try another
			// sandbox instead of waiting out the job's timeout.
			if req.Job != nil && s.reply(wire.Reply{Kind: "accepted", Token: req.Token}) != nil {
				return 1
			}
			rep = s.run(req.Job, outputSender(s.out, req.Token, s.opt.logf))
		case "reset":
			rep = s.reset()
		case "hello":
			rep = ready
		default:
			rep = wire.Reply{Kind: "result", Result: &wire.Result{Error: "bad request: unknown op " + wire.QuoteName(req.Op)}}
		}
		rep.Token = req.Token
		if s.reply(rep) != nil {
			return 1
		}
	}
}

// prestart pre-starts the interpreter for job n under its uid, if serve
// has a bootstrap.
func (s *server) prestart() error {
	if s.cfg.boot == nil {
		return nil
	}
	uid, err := s.cfg.ids.job(s.n)
	if err != nil {
		return err
	}
	in, err := prestart(s.cfg.boot, s.cfg.command, s.cfg.env, s.opt.workDir, uid, s.r, s.opt.logf)
	if err != nil {
		return err
	}
	s.warm = in
	return nil
}

// run runs job n under its uid, in the pre-started interpreter when it
// fits, sending a streamed job's output to send. The interpreter is not
// replaced afterwards: a single-use sandbox is destroyed, a reused one
// goes through reset, which moves on to the next uid and pre-starts
// again.
func (s *server) run(job *wire.Job, send sendOutput) wire.Reply {
	fail := func(msg string) wire.Reply { return wire.Reply{Kind: "result", Result: &wire.Result{Error: msg}} }
	if job == nil {
		return fail("bad request: run without a job")
	}
	if job.Cell {
		res := s.cell(*job, send)
		return wire.Reply{Kind: "result", Result: &res}
	}
	if s.used {
		return fail("bad request: the sandbox must be reset before another job")
	}
	uid, err := s.cfg.ids.job(s.n)
	if err != nil {
		return fail(err.Error())
	}
	s.used = true
	res := runJob(*job, s.opt, uid, send, func(job wire.Job) (*jobProcess, error) { return s.start(job, uid) })
	return wire.Reply{Kind: "result", Result: &res}
}

// cell runs job as the next cell of the session, starting the session
// interpreter (under job n's uid, in place of the pre-started one) for
// the first. The entry file's content is the cell's code; the other
// files are written first, as the job's uid.
func (s *server) cell(job wire.Job, send sendOutput) wire.Result {
	if err := job.Validate(); err != nil {
		return wire.Result{Error: err.Error()}
	}
	if !slices.Equal(job.Command, s.cfg.command) || !slices.Equal(job.Env, s.cfg.env) {
		return wire.Result{Error: "bad request: a cell must have the language's command and environment"}
	}
	uid, err := s.cfg.ids.job(s.n)
	if err != nil {
		return wire.Result{Error: err.Error()}
	}
	if s.sess == nil {
		switch {
		case s.used:
			return wire.Result{Error: "bad request: the sandbox ran a job; reset it before a session"}
		case s.cfg.boot == nil:
			return wire.Result{Error: "bad request: this language is not pre-started, so it has no session interpreter"}
		}
		if s.warm != nil {
			s.warm.discard(s.r, s.opt.logf)
			s.warm = nil
		}
		s.used = true
		sess, err := startSession(s.cfg.boot, s.cfg.command, s.cfg.env, s.opt.workDir, uid, s.r)
		if err != nil {
			return wire.Result{Error: "session: " + err.Error(), SessionEnded: true}
		}
		s.sess = sess
	}
	if s.sess.ended {
		return wire.Result{Error: "the session has ended", SessionEnded: true}
	}
	var code []byte
	files := make([]wire.File, 0, len(job.Files))
	for _, f := range job.Files {
		if f.Name == job.Entry {
			code = f.Content
			continue
		}
		files = append(files, f)
	}
	if bytes.IndexByte(code, 0) >= 0 {
		return wire.Result{Error: "a cell's code must not contain NUL"}
	}
	oomBefore, oomKnown := readOOMKills(s.opt.cgroupRoot)
	if err := asJob(uid, func() error { return writeFiles(s.opt.workDir, files) }); err != nil {
		return wire.Result{Error: err.Error()}
	}
	res := s.sess.run(code, job.Limits, job.Stream, send, s.r, s.opt.logf)
	if oomKnown {
		if after, ok := readOOMKills(s.opt.cgroupRoot); ok && after > oomBefore {
			res.OOMKilled = true
		}
	}
	return res
}

// start is runJob's start: the go signal if the pre-started interpreter
// fits the job, else a cold start (after killing the interpreter, which
// the job must not see).
func (s *server) start(job wire.Job, uid int) (*jobProcess, error) {
	in := s.warm
	s.warm = nil
	if in != nil && in.fits(job) {
		p, err := in.hand(job, s.r)
		if err == nil {
			return p, nil
		}
		s.opt.logf("pre-started %s: %v; starting the job cold", in.boot.name, err)
	}
	if in != nil {
		in.discard(s.r, s.opt.logf)
	}
	return startProcess(job, s.opt.workDir, s.r, jobCredential(uid))
}

// reset runs the verified reset of job n's uid, then moves on to job n+1
// and pre-starts its interpreter under its uid.
func (s *server) reset() wire.Reply {
	if s.sess != nil {
		s.sess.close(s.r)
		s.sess = nil
	}
	if s.warm != nil {
		s.warm.discard(s.r, s.opt.logf)
		s.warm = nil
	}
	rep := wire.Reply{Kind: "reset"}
	uid, err := s.cfg.ids.job(s.n)
	if err == nil {
		err = resetSandbox(s.r, defaultResetConfig(), uid)
	}
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	s.n, s.used = s.n+1, false
	if err := s.prestart(); err != nil {
		rep.Error = "prestart: " + err.Error()
	}
	return rep
}

func (s *server) reply(rep wire.Reply) error {
	return writeReply(s.out, rep, s.opt.logf)
}

// writeReply writes rep as one frame; a result too large for a frame is
// replaced by an error result.
func writeReply(w io.Writer, rep wire.Reply, logf func(string, ...any)) error {
	err := wire.WriteFrame(w, rep)
	if errors.Is(err, wire.ErrFrameTooLarge) && rep.Result != nil {
		err = wire.WriteFrame(w, wire.Reply{Kind: rep.Kind, Result: &wire.Result{Error: "result frame too large"}})
	}
	if err != nil {
		logf("%v", err)
	}
	return err
}

// outputSender sends a streamed job's output to w as "output" replies to
// the run request with token.
func outputSender(w io.Writer, token string, logf func(string, ...any)) sendOutput {
	return func(stream string, data []byte) error {
		return writeReply(w, wire.Reply{Kind: "output", Token: token, Stream: stream, Data: data}, logf)
	}
}

// frameWriter is the runner's stdout, shared by the goroutine that
// answers requests and a streamed job's streamer. WriteFrame writes a
// frame in one Write, and Writes are serialized, so frames never
// interleave.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (f *frameWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.w.Write(p)
}
