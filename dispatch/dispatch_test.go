package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/pool"
	"github.com/warmbox/warmbox/runner/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errNotStarted = errors.New("fake: not started")

type fakeSandbox struct{ id string }

func (s *fakeSandbox) ID() string { return s.id }

// fakeRuntime creates numbered sandboxes and hands jobs to a function.
type fakeRuntime struct {
	mu        sync.Mutex
	n         int
	destroyed []string
	handoff   func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error)
	stream    func(onOutput wire.OutputFunc) // if set, sees each hand-off's output callback first
	createErr error
}

func (f *fakeRuntime) Create(ctx context.Context) (*fakeSandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		return nil, f.createErr
	}
	f.n++
	return &fakeSandbox{id: fmt.Sprintf("sb%d", f.n)}, nil
}

func (f *fakeRuntime) Reset(ctx context.Context, s *fakeSandbox) error { return nil }

func (f *fakeRuntime) Destroy(ctx context.Context, s *fakeSandbox) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.destroyed = append(f.destroyed, s.id)
	return nil
}

func (f *fakeRuntime) Handoff(ctx context.Context, s *fakeSandbox, job wire.Job, onOutput wire.OutputFunc) (wire.Result, error) {
	if f.stream != nil {
		f.stream(onOutput)
	}
	return f.handoff(ctx, s, job)
}

func (f *fakeRuntime) destroyedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.destroyed)
}

func newDispatcher(t *testing.T, rt *fakeRuntime, pc pool.Config) *Dispatcher[*fakeSandbox] {
	t.Helper()
	lang := Language{Name: "python", Command: []string{"python3"}, File: "main.py", Limits: policy.DefaultLimits(), Pool: pc, VersionCode: "v"}
	d, err := New([]Language{lang}, map[string]Runtime[*fakeSandbox]{"python": rt}, Options{NotStarted: errNotStarted})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if err := d.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d
}

func smallPool() pool.Config {
	c := pool.DefaultConfig()
	c.MinIdle, c.MaxSize = 1, 2
	c.MaxUses, c.MaxWait = 1, time.Minute
	c.Autosize = false
	return c
}

func request(timeout time.Duration) Request {
	return Request{Language: "python", Code: "print(1)", Timeout: timeout}
}

func TestExecuteOutcomes(t *testing.T) {
	cases := []struct {
		name      string
		handoff   func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error)
		wantErr   error
		wantRes   wire.Result
		attempts  int32
		destroyed int // sandboxes destroyed by the time Execute returns and the pool settles
	}{
		{
			name: "success releases the sandbox",
			handoff: func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
				return wire.Result{Stage: wire.Stage{Stdout: []byte("1\n")}}, nil
			},
			wantRes: wire.Result{Stage: wire.Stage{Stdout: []byte("1\n")}}, attempts: 1,
		},
		{
			name: "runner refusal is a rejected job",
			handoff: func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
				return wire.Result{Error: "bad file name"}, nil
			},
			wantErr: ErrRejected, attempts: 1,
		},
		{
			name: "failure before the job started is retried once",
			handoff: func() func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
				var n atomic.Int32
				return func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
					if n.Add(1) == 1 {
						return wire.Result{}, fmt.Errorf("exec create: %w", errNotStarted)
					}
					return wire.Result{Stage: wire.Stage{Stdout: []byte("ok")}}, nil
				}
			}(),
			wantRes: wire.Result{Stage: wire.Stage{Stdout: []byte("ok")}}, attempts: 2,
		},
		{
			name: "a second failure before start is a lost sandbox",
			handoff: func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
				return wire.Result{}, fmt.Errorf("exec create: %w", errNotStarted)
			},
			wantErr: ErrSandboxLost, attempts: 2,
		},
		{
			name: "a failure mid-job is a lost sandbox, not retried",
			handoff: func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
				return wire.Result{}, errors.New("stream reset")
			},
			wantErr: ErrSandboxLost, attempts: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			rt := &fakeRuntime{handoff: func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
				calls.Add(1)
				return tc.handoff(ctx, s, job)
			}}
			d := newDispatcher(t, rt, smallPool())
			out, err := d.Execute(context.Background(), request(5*time.Second))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && string(out.Result.Stdout) != string(tc.wantRes.Stdout) {
				t.Errorf("stdout = %q, want %q", out.Result.Stdout, tc.wantRes.Stdout)
			}
			if got := calls.Load(); got != tc.attempts {
				t.Errorf("hand-offs = %d, want %d", got, tc.attempts)
			}
		})
	}
}

// A runner that never answers is cut off at timeout + grace, reported as
// a timeout, and its sandbox destroyed.
func TestRunnerSilentPastDeadlineIsTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &fakeRuntime{handoff: func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
			<-ctx.Done()
			return wire.Result{}, ctx.Err()
		}}
		d := newDispatcher(t, rt, smallPool())
		start := time.Now()
		out, err := d.Execute(context.Background(), request(3*time.Second))
		if err != nil {
			t.Fatalf("err = %v, want a timeout outcome", err)
		}
		if !out.Result.TimedOut || out.Result.Signal != "SIGKILL" {
			t.Errorf("result = %+v, want timed out by SIGKILL", out.Result)
		}
		if got, want := time.Since(start), 3*time.Second+killGrace; got != want {
			t.Errorf("answered after %v, want %v", got, want)
		}
		synctest.Wait()
		if rt.destroyedCount() < 1 {
			t.Error("the silent sandbox was not destroyed")
		}
	})
}

// A caller waits for a sandbox at most the pool's max_wait, whatever its
// job's timeout: a saturated pool answers at once, not after seconds.
func TestAcquireBoundedByMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		rt := &fakeRuntime{handoff: func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return wire.Result{}, nil
		}}
		pc := smallPool()
		pc.MaxSize = 1
		pc.MaxWait = 300 * time.Millisecond
		d := newDispatcher(t, rt, pc)
		go func() { _, _ = d.Execute(context.Background(), request(30*time.Second)) }()
		synctest.Wait()
		for _, timeout := range []time.Duration{8 * time.Second, time.Second} {
			start := time.Now()
			_, err := d.Execute(context.Background(), request(timeout))
			if !errors.Is(err, ErrCapacity) {
				t.Fatalf("err = %v, want ErrCapacity", err)
			}
			if got := time.Since(start); got != pc.MaxWait {
				t.Errorf("a %v job waited %v, want max_wait %v", timeout, got, pc.MaxWait)
			}
		}
		close(release)
		synctest.Wait()
	})
}

func TestDegradedPoolFailsFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &fakeRuntime{handoff: func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
			return wire.Result{}, nil
		}}
		d := newDispatcher(t, rt, smallPool())
		rt.mu.Lock()
		rt.createErr = errors.New("No such image")
		rt.mu.Unlock()
		if _, err := d.Execute(context.Background(), request(time.Second)); err != nil {
			t.Fatalf("first job (idle sandbox) failed: %v", err)
		}
		time.Sleep(5 * time.Second) // the pool tries to refill and backs off
		start := time.Now()
		_, err := d.Execute(context.Background(), request(10*time.Second))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if time.Since(start) != 0 {
			t.Errorf("a degraded, empty pool made the caller wait %v", time.Since(start))
		}
		h := d.Health()
		if h[0].Ready || h[0].Reason == "" {
			t.Errorf("health = %+v, want not ready with a reason", h[0])
		}
	})
}

func TestUnknownLanguage(t *testing.T) {
	rt := &fakeRuntime{}
	d := newDispatcher(t, rt, smallPool())
	if _, err := d.Execute(context.Background(), Request{Language: "cobol", Code: "x", Timeout: time.Second}); !errors.Is(err, ErrUnknownLanguage) {
		t.Fatalf("err = %v, want ErrUnknownLanguage", err)
	}
}

func TestSelfTestRecordsVersion(t *testing.T) {
	rt := &fakeRuntime{handoff: func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
		if string(job.Files[0].Content) != "v" || job.Entry != "main.py" {
			return wire.Result{Stage: wire.Stage{ExitCode: 1}}, nil
		}
		return wire.Result{Stage: wire.Stage{Stdout: []byte("3.11.2\n")}}, nil
	}}
	d := newDispatcher(t, rt, smallPool())
	if h := d.Health(); h[0].Ready {
		t.Fatalf("ready before the self-test: %+v", h[0])
	}
	if err := d.SelfTest(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := d.Languages()[0].Version; got != "3.11.2" {
		t.Errorf("version = %q, want 3.11.2", got)
	}
	if h := d.Health(); !h[0].Ready {
		t.Errorf("not ready after the self-test: %+v", h[0])
	}
}

func TestJobCarriesLanguageSettings(t *testing.T) {
	l := Language{Name: "python", Command: []string{"python3"}, File: "main.py", Env: []string{"A=1"}, Limits: policy.DefaultLimits()}
	job := Job(l, Request{Code: "x", Files: []wire.File{{Name: "b.py", Content: []byte("y")}}, Args: []string{"a"}, Stdin: []byte("in"), Timeout: 3 * time.Second})
	if job.Entry != "main.py" || job.Files[0].Name != "main.py" || job.Files[1].Name != "b.py" || job.Limits.TimeoutMs != 3000 ||
		job.Limits.OutputBytes != l.Limits.OutputBytes || job.Env[0] != "A=1" || job.Args[0] != "a" || string(job.Stdin) != "in" {
		t.Errorf("job = %+v", job)
	}
}

func TestJobLoweredLimitsAndCompile(t *testing.T) {
	l := Language{Name: "c", Command: []string{"/tmp/a.out"}, File: "main.c", Limits: policy.DefaultLimits(),
		Compile: []string{"gcc", "-o", "a.out"}}
	job := Job(l, Request{Code: "x", Timeout: 3 * time.Second, ReturnFiles: []string{"*.png"},
		Lowered: policy.Lowered{MemoryMB: 64, CPUTime: 1500 * time.Millisecond, Processes: 10, OutputBytes: 100}})
	lim := job.Limits
	if lim.DataBytes != 64<<20 || lim.CPUSeconds != 2 || lim.Processes != 10 || lim.OutputBytes != 100 {
		t.Errorf("lowered limits = %+v: want 64 MiB of data, 2 CPU seconds (rounded up), 10 processes, 100 output bytes", lim)
	}
	if job.Compile == nil || job.Compile.TimeoutMs != l.Limits.CompileTimeout.Milliseconds() || len(job.ReturnFiles) != 1 ||
		lim.ReturnFiles != l.Limits.MaxReturnFiles || lim.ReturnBytes != l.Limits.MaxReturnBytes {
		t.Errorf("job = %+v: want the compile stage with the language's compile timeout and the return caps", job)
	}
	if got := Job(l, Request{Code: "x", Timeout: time.Second, Lowered: policy.Lowered{OutputBytes: 1 << 30}}); got.Limits.OutputBytes != l.Limits.OutputBytes {
		t.Errorf("output_bytes raised to %d: a request only lowers", got.Limits.OutputBytes)
	}
}

// A compiler given more memory than its program: the sandbox is sized
// for the compiler, so each stage is held to its own by RLIMIT_DATA.
func TestJobCompileLimits(t *testing.T) {
	lim := policy.DefaultLimits()
	lim.CompileMemoryMB, lim.CompileCPUTime = 768, 20*time.Second
	l := Language{Name: "rust", Command: []string{"./a.out"}, File: "main.rs", Limits: lim, Compile: []string{"rustc"}}
	job := Job(l, Request{Code: "x", Timeout: time.Second})
	want := wire.Compile{Command: []string{"rustc"}, TimeoutMs: 30000, DataBytes: 768 << 20, CPUSeconds: 20}
	if c := job.Compile; c == nil || c.TimeoutMs != want.TimeoutMs || c.DataBytes != 0 || c.CPUSeconds != want.CPUSeconds {
		t.Errorf("compile stage %+v: want the language's timeout and CPU time, and no data limit (the sandbox is the compiler's size)", c)
	}
	if job.Limits.DataBytes != lim.MemoryMB<<20 {
		t.Errorf("program data limit %d, want memory_mb (%d MiB): the sandbox holds the compiler's 768", job.Limits.DataBytes, lim.MemoryMB)
	}
	low := Job(l, Request{Code: "x", Timeout: time.Second, Lowered: policy.Lowered{
		CompileTimeout: 2500 * time.Millisecond, CompileMemoryMB: 300, CompileCPUTime: 1500 * time.Millisecond, MemoryMB: 64}})
	if c := low.Compile; c.TimeoutMs != 2500 || c.DataBytes != 300<<20 || c.CPUSeconds != 2 || low.Limits.DataBytes != 64<<20 {
		t.Errorf("lowered: compile %+v, program data %d", c, low.Limits.DataBytes)
	}
	l.Limits.CompileMemoryMB = 0
	if j := Job(l, Request{Code: "x", Timeout: time.Second}); j.Compile.DataBytes != 0 || j.Limits.DataBytes != 0 {
		t.Errorf("compiler and program of the same size: data limits %d and %d, want none (the memory cgroup bounds both)", j.Compile.DataBytes, j.Limits.DataBytes)
	}
}

// A request's OnOutput is what the backend's hand-off streams to, and a
// request without one is handed off unstreamed.
func TestOnOutputReachesHandoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var streamedTo []bool
		rt := &fakeRuntime{
			handoff: func(context.Context, *fakeSandbox, wire.Job) (wire.Result, error) { return wire.Result{}, nil },
			stream: func(onOutput wire.OutputFunc) {
				streamedTo = append(streamedTo, onOutput != nil)
				if onOutput != nil {
					onOutput(wire.StreamStdout, []byte("first\n"))
				}
			},
		}
		d := newDispatcher(t, rt, smallPool())
		var got []string
		req := request(5 * time.Second)
		req.OnOutput = func(stream string, data []byte) { got = append(got, stream+":"+string(data)) }
		if _, err := d.Execute(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Execute(context.Background(), request(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != "stdout:first\n" {
			t.Errorf("OnOutput got %q, want the backend's one chunk", got)
		}
		if want := []bool{true, false}; !slices.Equal(streamedTo, want) {
			t.Errorf("hand-offs streamed: %v, want %v", streamedTo, want)
		}
	})
}
