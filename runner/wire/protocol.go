package wire

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// MaxFrameBytes bounds a frame in either direction. A job holds at most
// the code, its files and stdin (the API caps them far below this); a
// result holds two capped output streams.
const MaxFrameBytes = 16 << 20

// ErrFrameTooLarge is returned for a frame whose declared length exceeds
// the reader's bound (MaxFrameBytes, or a smaller one: ReadFrameMax),
// and by a Conn for output frames that carry more than the runner sends
// (OutputChunkBytes a frame, Limits.OutputBytes a stream). From a
// runner, the daemon treats it as it treats a forged frame: the sandbox
// is destroyed and the caller gets no result.
var ErrFrameTooLarge = errors.New("frame too large")

// ControlFrameBytes bounds the replies that carry no job output: "ready",
// "accepted" and "reset" (a reset's error is at most a few hundred
// bytes). The daemon refuses a longer one before allocating it.
const ControlFrameBytes = 4 << 10

// OutputChunkBytes bounds the output one "output" frame carries. Such a
// frame (the chunk in base64, the token, a stream name) is always shorter
// than the smallest result bound (Limits.ResultFrameBytes), which is what
// the daemon reads the frames after the acknowledgement with, as any of
// them may be the result; it refuses a decoded output frame with more
// than this, or more than Limits.OutputBytes of a stream in all, as
// ErrFrameTooLarge.
const OutputChunkBytes = 16 << 10

// resultOverheadBytes is what a "result" frame holds besides its two
// output streams: the token, the numbers and flags, and an error message
// (short, but JSON may escape each byte of it as \u00XX).
const resultOverheadBytes = 64 << 10

// ResultFrameBytes is the longest "result" frame an honest runner writes
// for a job with these limits: all four streams full (OutputBytes each,
// base64 in JSON) plus a fixed overhead, never more than MaxFrameBytes.
// The daemon reads a result with this bound, so a job that got hold of
// the runner's stdout (gVisor, docs/SECURITY.md F5) cannot make it
// allocate more than its own output caps allow.
func (l Limits) ResultFrameBytes() int {
	out := min(max(l.OutputBytes, 0), MaxOutputBytes)
	files := min(max(l.ReturnBytes, 0), MaxReturnBytes)
	// Four streams (the run's and, for a compiled language, the
	// compiler's) and the returned files, each with its name.
	return min(4*base64.StdEncoding.EncodedLen(out)+base64.StdEncoding.EncodedLen(files)+
		min(max(l.ReturnFiles, 0), MaxReturnFiles)*2*MaxFileNameBytes+resultOverheadBytes, MaxFrameBytes)
}

// Job is what the daemon asks the runner to do.
type Job struct {
	// Files are written under the work dir before the program starts.
	// Names are relative paths (see ValidateFileName).
	Files []File `json:"files"`
	// Command is the interpreter and its fixed flags, e.g. ["python3"].
	// The runner runs Command + [Entry] + Args.
	Command []string `json:"command"`
	// Entry names the file in Files that the interpreter runs.
	Entry string `json:"entry"`
	// Args are the program's own arguments.
	Args []string `json:"args,omitempty"`
	// Stdin is fed to the program, then closed.
	Stdin []byte `json:"stdin,omitempty"`
	// Env is the program's whole environment (nothing is inherited).
	Env []string `json:"env,omitempty"`
	// Limits bound the run.
	Limits Limits `json:"limits"`
	// Stream asks the runner to send the program's output while it
	// runs, in "output" replies between the acknowledgement and the
	// result (OutputChunkBytes at most each, never more of a stream in
	// all than Limits.OutputBytes). The result still carries the whole
	// capped output, exactly as without Stream.
	Stream bool `json:"stream,omitempty"`
	// Cell runs the job as the next cell of the sandbox's session: the
	// entry file's content is the cell's code, run in the session
	// interpreter the first cell started (serve mode with a bootstrap
	// only), which keeps its state for the next cell; the other files
	// are written first. Args and Stdin are not used. A sandbox that
	// ran a cell takes only cells until its reset, which ends the
	// session.
	Cell bool `json:"cell,omitempty"`
	// Compile, when set, is a stage that runs first, as the job's uid in
	// the work dir: Compile.Command + [Entry], with its own timeout, no
	// stdin, the job's Env and output caps. The program starts only if
	// the compiler exits 0, and it is then Command + Args: the entry is
	// not appended (the compiler's output is what runs), and "{stem}" in
	// Command stands for Entry without its extension (Main.java runs as
	// class Main).
	Compile *Compile `json:"compile,omitempty"`
	// ReturnFiles are patterns (path.Match, relative to the work dir) of
	// files the program writes that come back in Result.Files, read once
	// every process of the job is gone: at most Limits.ReturnFiles files
	// and Limits.ReturnBytes bytes in all.
	ReturnFiles []string `json:"return_files,omitempty"`
}

// Compile is a job's compile stage. DataBytes (RLIMIT_DATA) and
// CPUSeconds (RLIMIT_CPU) are set on the compiler's process as the
// program's are (Limits), never on the program: a compiler may be given
// more than the program it builds. 0 leaves them as the sandbox has them.
type Compile struct {
	Command    []string `json:"command"`
	TimeoutMs  int64    `json:"timeout_ms"`
	DataBytes  int64    `json:"data_bytes,omitempty"`
	CPUSeconds int64    `json:"cpu_seconds,omitempty"`
}

// Stem is the token of a compiled job's Command that stands for its
// entry without the extension.
const Stem = "{stem}"

// MaxDuration is the longest the job's processes may run: its program's
// timeout and its compile stage's.
func (j Job) MaxDuration() time.Duration {
	d := time.Duration(j.Limits.TimeoutMs) * time.Millisecond
	if j.Compile != nil {
		d += time.Duration(j.Compile.TimeoutMs) * time.Millisecond
	}
	return d
}

// argv is the program's command line.
func (j Job) Argv() []string {
	if j.Compile == nil {
		return append(append(append([]string{}, j.Command...), j.Entry), j.Args...)
	}
	stem := strings.TrimSuffix(j.Entry, path.Ext(j.Entry))
	argv := make([]string, 0, len(j.Command)+len(j.Args))
	for _, a := range j.Command {
		argv = append(argv, strings.ReplaceAll(a, Stem, stem))
	}
	return append(argv, j.Args...)
}

// File is one file of a job.
type File struct {
	Name    string `json:"name"`
	Content []byte `json:"content"`
}

// Limits are enforced by the runner itself; container-wide limits
// (memory, pids, CPU) are set by the backend.
type Limits struct {
	// TimeoutMs is the wall-clock limit of the program.
	TimeoutMs int64 `json:"timeout_ms"`
	// OutputBytes caps stdout and stderr, each.
	OutputBytes int `json:"output_bytes"`
	// FileSizeBytes (RLIMIT_FSIZE) and NoFile (RLIMIT_NOFILE) are set on
	// the job's process; 0 leaves them as the sandbox has them.
	FileSizeBytes int64 `json:"file_size_bytes,omitempty"`
	NoFile        int64 `json:"nofile,omitempty"`
	// Limits a request lowered, set on the job's process (and so on
	// everything it starts) as rlimits; 0 leaves them as the sandbox
	// has them. DataBytes (RLIMIT_DATA) bounds each process's heap and
	// private writable memory (an allocation past it fails, ENOMEM);
	// CPUSeconds (RLIMIT_CPU) each process's CPU time (SIGXCPU, then
	// SIGKILL); Processes (RLIMIT_NPROC) the processes and threads of
	// the job's uid, which is the job's alone.
	DataBytes  int64 `json:"data_bytes,omitempty"`
	CPUSeconds int64 `json:"cpu_seconds,omitempty"`
	Processes  int64 `json:"processes,omitempty"`
	// ReturnFiles and ReturnBytes cap Job.ReturnFiles' harvest: files,
	// and bytes of them all.
	ReturnFiles int `json:"return_files,omitempty"`
	ReturnBytes int `json:"return_bytes,omitempty"`
}

// Result is what the runner reports: how the program ended (its Stage)
// and what else the job produced.
type Result struct {
	// Stage is the program's: its exit status, signal, timeout, capped
	// streams and resource use.
	Stage
	// OOMKilled is set when the kernel's OOM killer fired in the
	// sandbox's memory cgroup during the job.
	OOMKilled bool `json:"oom_killed"`

	// Value is a cell's value, as the language shows it (Python's repr,
	// Node's util.inspect), when the cell ended with an expression that
	// has one; nil otherwise.
	Value *string `json:"value,omitempty"`
	// Exception is the error a cell raised and did not catch; the
	// session lives on.
	Exception *Exception `json:"exception,omitempty"`
	// SessionEnded: the session interpreter is gone (it exited, was
	// killed, or stopped answering past the cell's timeout): the
	// sandbox takes no more cells.
	SessionEnded bool `json:"session_ended,omitempty"`

	// Files are the files Job.ReturnFiles selected, in name order;
	// FilesTruncated says that more matched than the caps allowed (the
	// ones over them are left out whole, never cut).
	Files          []File `json:"files,omitempty"`
	FilesTruncated bool   `json:"files_truncated,omitempty"`

	// Compile is the compile stage's outcome, for a job with one. When
	// the compiler failed (a non-zero exit, a signal, its timeout) the
	// program did not start: ExitCode, Signal and the run's streams are
	// then zero.
	Compile *Stage `json:"compile,omitempty"`

	// Error is set when the runner could not run the job at all (a bad
	// file name, the interpreter missing); the other fields are then
	// meaningless. It is a message for the caller, never a Go error
	// string from deep inside.
	Error string `json:"error,omitempty"`
}

// Stage is how one process of a job ended: the program (Result's own) or
// the compiler before it (Result.Compile).
type Stage struct {
	// ExitCode is the exit status, or -1 when a signal ended it.
	ExitCode int `json:"exit_code"`
	// Signal names the signal that ended it ("SIGKILL"), if any.
	Signal string `json:"signal,omitempty"`
	// TimedOut is set when the runner killed it at its deadline.
	TimedOut bool `json:"timed_out"`

	Stdout          []byte `json:"stdout"`
	Stderr          []byte `json:"stderr"`
	StdoutTruncated bool   `json:"stdout_truncated"`
	StderrTruncated bool   `json:"stderr_truncated"`

	// WallMs is the wall time, from start to exit.
	WallMs float64 `json:"wall_ms"`
	// CPUTimeMs is user+system CPU time of the process and the children
	// it waited for (wait4 rusage).
	CPUTimeMs float64 `json:"cpu_time_ms"`
	// MemoryPeakKB is the peak resident set size (wait4 rusage).
	MemoryPeakKB int64 `json:"memory_peak_kb"`
}

// OK reports whether the stage succeeded, so the program may start.
func (s Stage) OK() bool { return s.ExitCode == 0 && s.Signal == "" && !s.TimedOut }

// WriteFrame writes v as one frame.
func WriteFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode frame: %w", err)
	}
	if len(body) > MaxFrameBytes {
		return ErrFrameTooLarge
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// ReadFrame reads one frame into v. It never allocates more than
// MaxFrameBytes, whatever the header claims. io.EOF means the stream
// ended cleanly before a frame began; io.ErrUnexpectedEOF means it ended
// inside one.
func ReadFrame(r io.Reader, v any) error {
	return ReadFrameMax(r, v, MaxFrameBytes)
}

// ReadFrameMax is ReadFrame for a frame of at most limit bytes (capped at
// MaxFrameBytes): a longer one is refused with ErrFrameTooLarge from its
// header alone, before anything of its size is allocated or read. The
// rest of such a frame is left unread, so the stream is out of step.
func ReadFrameMax(r io.Reader, v any, limit int) error {
	limit = min(max(limit, 0), MaxFrameBytes)
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(limit) {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrFrameTooLarge, n, limit)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode frame: %w", err)
	}
	return nil
}

// Request is a frame the daemon sends to a runner: in serve mode, any
// number of them; to `run`, one "run".
type Request struct {
	Op string `json:"op"` // "run", "reset" or "hello" (answered with the ready frame again)
	// Token is fresh for every request, and every reply to the request
	// carries it back. A frame with another token (or none) was not
	// written by the runner in answer to this request: a job that got
	// hold of the runner's stdout wrote it (docs/SECURITY.md F5). The
	// daemon then destroys the sandbox and gives the caller no result.
	Token string `json:"token,omitempty"`
	Job   *Job   `json:"job,omitempty"` // for "run"
}

// Reply is a frame a runner sends: in serve mode, the ready frame at
// start (no token) and the replies to requests; from `run`, any output
// frames then one result; from `reset`, one reset frame (no token: no job
// is alive to forge one).
type Reply struct {
	Kind   string  `json:"kind"`             // "ready" (interpreter pre-started), "accepted" (run received, before its result), "output" (a streamed job's output, before its result), "result" (after run), "reset" (after reset)
	Token  string  `json:"token,omitempty"`  // the request's token
	Result *Result `json:"result,omitempty"` // for "result"
	Error  string  `json:"error,omitempty"`  // "ready"/"reset" failure: a short message; "" = ok
	Stream string  `json:"stream,omitempty"` // for "output": "stdout" or "stderr"
	Data   []byte  `json:"data,omitempty"`   // for "output": the stream's next bytes, at most OutputChunkBytes
}

// The streams an "output" reply names.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// Status is the job's outcome in the API's words: "timeout" when the
// runner killed it at the deadline, "success" when it exited 0 by
// itself, "error" otherwise (a non-zero exit, a signal, an OOM kill, a
// compile stage that failed, its own timeout included).
func (r Result) Status() string {
	switch {
	case r.Compile != nil && !r.Compile.OK():
		return "error"
	case r.TimedOut:
		return "timeout"
	case r.ExitCode == 0 && r.Signal == "" && !r.OOMKilled:
		return "success"
	default:
		return "error"
	}
}

// Exception is an error a cell raised and did not catch.
type Exception struct {
	Name      string `json:"name"`      // the error's class, e.g. "ZeroDivisionError"
	Value     string `json:"value"`     // its message
	Traceback string `json:"traceback"` // as the language prints it, the cell's own frames only
}
