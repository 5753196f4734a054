package runner

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/warmbox/warmbox/runner/wire"
)

// The session interpreters (bootstrap/*_session.*): one process kept for
// many cells. Each reads cells on ctlFD (the code, ended by a NUL byte),
// runs them one after another in the same global state, and answers on
// readyFD with JSON lines: {"kind": "ready"} once, then one "done" event
// per cell, after writing cellDoneMarker on its stdout and stderr.
var (
	//go:embed bootstrap/python_session.py
	pythonSession string
	//go:embed bootstrap/node_session.js
	nodeSession string
	//go:embed bootstrap/bash_session.sh
	bashSession string
)

// sessionScripts maps a bootstrap's name to its session interpreter.
var sessionScripts = map[string]string{
	"python": pythonSession,
	"node":   nodeSession,
	"bash":   bashSession,
}

// cellDoneMarker ends each cell's output on both streams. It is written
// after the cell's last byte and before its "done" event, so once the
// runner has the event and both markers, the cell's output is whole; it
// never reaches the caller. A program that prints it only cuts its own
// cell's output short.
var cellDoneMarker = []byte("\x00\x1ewarmbox-cell-done\x1e\x00")

// Bounds of a cell's end: how long an interrupted cell (SIGINT at its
// timeout) has to finish before the session is killed, and how long the
// markers may lag behind the "done" event.
const (
	interruptGrace = time.Second
	markerWait     = time.Second
)

// maxEventBytes bounds one event line of a session interpreter (a cell's
// value and traceback are cut to the job's OutputBytes anyway).
const maxEventBytes = 4 << 20

// sessionEvent is one line a session interpreter writes on readyFD.
type sessionEvent struct {
	Kind     string          `json:"kind"` // "ready" or "done"
	Value    *string         `json:"value"`
	Error    *wire.Exception `json:"error"`
	ExitCode *int            `json:"exit_code"` // bash: the cell's status
}

// session is a session interpreter and the runner's ends of its pipes.
// One goroutine (serve's) runs its cells.
type session struct {
	sp             *spawned
	uid            int
	cells          *os.File          // our end of its ctlFD
	events         chan sessionEvent // its readyFD, parsed; closed at EOF or on a bad line
	stdout, stderr *cellSink
	drained        chan struct{} // closed when both output pipes hit EOF
	ended          bool
}

// startSession starts the session interpreter of boot's language for
// command in dir as uid (0: as the runner, in tests), with exactly env,
// as the main process tracked by r, and returns once it is ready.
func startSession(boot *bootstrap, command, env []string, dir string, uid int, r *reaper) (*session, error) {
	script, ok := sessionScripts[boot.name]
	if !ok {
		return nil, fmt.Errorf("%s has no session interpreter", boot.name)
	}
	path, err := lookPath(command[0], env)
	if err != nil {
		return nil, err
	}
	cellsR, cellsW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("cannot create pipes: %s", errnoText(err))
	}
	eventsR, eventsW, err := os.Pipe()
	if err != nil {
		cellsR.Close()
		cellsW.Close()
		return nil, fmt.Errorf("cannot create pipes: %s", errnoText(err))
	}
	extra := make([]*os.File, readyFD-2)
	extra[ctlFD-3], extra[readyFD-3] = cellsR, eventsW
	var cred *syscall.Credential
	if uid != 0 {
		cred = jobCredential(uid)
	}
	argv := append(append([]string{}, command...), boot.flag, script)
	sp, err := spawn(path, argv, env, dir, extra, cred)
	cellsR.Close()
	eventsW.Close()
	if err != nil {
		cellsW.Close()
		eventsR.Close()
		return nil, fmt.Errorf("cannot start %q: %s", command[0], errnoText(err))
	}
	r.track(sp.proc.Pid)
	sp.stdinW.Close() // a cell reads no stdin: it sees EOF
	ss := &session{
		sp: sp, uid: uid, cells: cellsW, events: make(chan sessionEvent, 1),
		stdout: &cellSink{}, stderr: &cellSink{}, drained: make(chan struct{}),
	}
	go ss.readEvents(eventsR)
	go ss.drain()

	t := time.NewTimer(readyTimeout)
	defer t.Stop()
	select {
	case ev, ok := <-ss.events:
		if ok && ev.Kind == "ready" {
			return ss, nil
		}
		err = errors.New("session interpreter exited before it was ready")
	case <-t.C:
		err = errors.New("session interpreter not ready after " + readyTimeout.String())
	}
	ss.kill(r)
	return nil, err
}

// readEvents parses the interpreter's event lines until EOF (it exited,
// or closed the fd) or a line that is not an event; then the channel
// closes and the session counts as ended.
func (ss *session) readEvents(f *os.File) {
	defer close(ss.events)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxEventBytes)
	for sc.Scan() {
		var ev sessionEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || (ev.Kind != "ready" && ev.Kind != "done") {
			return
		}
		ss.events <- ev
	}
}

// drain copies stdout and stderr into their sinks until EOF.
func (ss *session) drain() {
	done := make(chan struct{})
	go func() {
		drain(ss.sp.stderrR, ss.stderr)
		close(done)
	}()
	drain(ss.sp.stdoutR, ss.stdout)
	<-done
	close(ss.drained)
}

// run runs one cell: code in the session, its output into fresh buffers
// capped at limits.OutputBytes (sent to send as it comes, if streamed),
// within limits.TimeoutMs. At the timeout the cell is interrupted
// (SIGINT to the interpreter's process group: Python raises
// KeyboardInterrupt, Node and bash stop the running command); one that
// does not finish within interruptGrace ends the session.
func (ss *session) run(code []byte, limits wire.Limits, stream bool, send sendOutput, r *reaper, logf func(string, ...any)) wire.Result {
	kept := make(chan struct{}, 1)
	out, errOut := newCapped(limits.OutputBytes, kept), newCapped(limits.OutputBytes, kept)
	ss.stdout.begin(out)
	ss.stderr.begin(errOut)
	if stream {
		defer startStreamer(send, kept, out, errOut).close()
	}
	pid := ss.sp.proc.Pid
	cpuBefore := processCPUMs(pid)
	started := time.Now()

	var res wire.Result
	ss.cells.SetWriteDeadline(time.Now().Add(goTimeout))
	if _, err := ss.cells.Write(append(code, 0)); err != nil {
		logf("session: cell not delivered: %s", errnoText(err))
		ss.kill(r)
	} else {
		res = ss.await(time.Duration(limits.TimeoutMs)*time.Millisecond, r, logf)
	}
	res.WallMs = ms(time.Since(started))
	if cpu := processCPUMs(pid); cpu >= cpuBefore && cpuBefore >= 0 {
		res.CPUTimeMs = cpu - cpuBefore
	}
	res.MemoryPeakKB = processPeakKB(pid)
	if ss.ended {
		res.SessionEnded = true
		<-ss.drained // every writer is dead: the pipes are at EOF
	} else {
		ss.stdout.awaitMarker(markerWait)
		ss.stderr.awaitMarker(markerWait)
	}
	ss.stdout.end()
	ss.stderr.end()
	res.Stdout, res.StdoutTruncated = out.Bytes(), out.truncated
	res.Stderr, res.StderrTruncated = errOut.Bytes(), errOut.truncated
	if res.Value != nil {
		v := capText(*res.Value, limits.OutputBytes)
		res.Value = &v
	}
	if e := res.Exception; e != nil {
		e.Value, e.Traceback = capText(e.Value, limits.OutputBytes), capText(e.Traceback, limits.OutputBytes)
	}
	return res
}

// await waits for the cell's "done" event, interrupting it at timeout.
func (ss *session) await(timeout time.Duration, r *reaper, logf func(string, ...any)) wire.Result {
	var res wire.Result
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-ss.events:
			if !ok {
				// The interpreter exited (or closed its event pipe):
				// the session is over, and so is anything it started.
				ss.kill(r)
				res.ExitCode, res.Signal = exitOf(r)
				return res
			}
			if ev.Kind != "done" {
				continue
			}
			res.Value, res.Exception = ev.Value, ev.Error
			switch {
			case ev.ExitCode != nil:
				res.ExitCode = *ev.ExitCode
			case ev.Error != nil:
				res.ExitCode = 1
			}
			return res
		case <-deadline.C:
			if res.TimedOut {
				logf("session: cell still running %s after its interrupt; session ended", interruptGrace)
				ss.kill(r)
				res.ExitCode, res.Signal = -1, "SIGKILL"
				return res
			}
			res.TimedOut = true
			if err := asJob(ss.uid, func() error { return unix.Kill(-ss.sp.proc.Pid, unix.SIGINT) }); err != nil {
				logf("session: interrupt: %v", err)
			}
			deadline.Reset(interruptGrace)
		}
	}
}

// kill ends the session: every process of its uid is killed and reaped,
// and the cell pipe closed. The output pipes reach EOF and are closed by
// close.
func (ss *session) kill(r *reaper) {
	if ss.ended {
		return
	}
	ss.ended = true
	ss.cells.Close()
	ss.sp.proc.Kill()
	if ss.uid != 0 {
		if err := asJob(ss.uid, func() error { return sweep(r) }); err != nil {
			r.reapAll(sweepBudget)
		}
	} else {
		r.waitExit(time.Second)
	}
	r.reapAll(sweepBudget)
}

// close ends the session and releases its pipes; the reset that follows
// verifies that nothing of it is left.
func (ss *session) close(r *reaper) {
	ss.kill(r)
	t := time.NewTimer(drainGrace)
	defer t.Stop()
	select {
	case <-ss.drained:
	case <-t.C:
		ss.sp.stdoutR.Close()
		ss.sp.stderrR.Close()
		<-ss.drained
	}
	ss.sp.close()
}

// exitOf is how the tracked process ended: its exit code, or -1 and the
// signal's name.
func exitOf(r *reaper) (int, string) {
	if !r.exited {
		return -1, "SIGKILL"
	}
	if r.status.Signaled() {
		return -1, unix.SignalName(r.status.Signal())
	}
	return r.status.ExitStatus(), ""
}

// capText cuts s to at most limit bytes, on a character boundary.
func capText(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	return string(trimPartialRune([]byte(s[:limit])))
}

// processCPUMs is a process's user+system CPU time so far, from
// /proc/PID/stat; -1 when it cannot be read.
func processCPUMs(pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name may hold spaces and parentheses: the fields
	// after it start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return (utime + stime) * 1000 / ticksPerSecond
}

// processPeakKB is a process's peak resident set (VmHWM), 0 when it
// cannot be read.
func processPeakKB(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// cellSink receives one output stream of a session interpreter and
// passes it to the current cell's buffer, up to each end-of-cell marker,
// which it strips. Bytes between cells (a background thread's) are
// dropped. The drain goroutine writes; the cell's goroutine begins, ends
// and awaits the marker.
type cellSink struct {
	mu      sync.Mutex
	cur     *capped
	tail    []byte // bytes that may begin a marker split across writes
	markers int    // markers seen since begin
	seen    chan struct{}
}

// begin directs the stream to out, for a new cell.
func (s *cellSink) begin(out *capped) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur, s.markers, s.seen = out, 0, make(chan struct{})
}

// end stops directing the stream to the cell's buffer.
func (s *cellSink) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = nil
}

// awaitMarker waits until the cell's marker came through, at most d.
func (s *cellSink) awaitMarker(d time.Duration) bool {
	s.mu.Lock()
	seen := s.seen
	s.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-seen:
		return true
	case <-t.C:
		return false
	}
}

func (s *cellSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data := append(s.tail, p...)
	s.tail = nil
	for {
		i := bytes.Index(data, cellDoneMarker)
		if i < 0 {
			break
		}
		s.deliver(data[:i])
		if s.markers == 0 && s.seen != nil {
			close(s.seen)
		}
		s.markers++
		s.cur = nil // what follows belongs to no cell until the next begins
		data = data[i+len(cellDoneMarker):]
	}
	keep := markerPrefixLen(data)
	s.deliver(data[:len(data)-keep])
	s.tail = append([]byte(nil), data[len(data)-keep:]...)
	return len(p), nil
}

func (s *cellSink) deliver(b []byte) {
	if s.cur != nil && len(b) > 0 {
		s.cur.Write(b)
	}
}

// markerPrefixLen is the length of the longest end of data that is a
// beginning of the marker (shorter than the marker).
func markerPrefixLen(data []byte) int {
	for n := min(len(data), len(cellDoneMarker)-1); n > 0; n-- {
		if bytes.HasPrefix(cellDoneMarker, data[len(data)-n:]) {
			return n
		}
	}
	return 0
}
