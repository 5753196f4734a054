package kube

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/warmbox/warmbox/daemon"
	"github.com/warmbox/warmbox/engine"
	"github.com/warmbox/warmbox/internal/testdaemon"
	"github.com/warmbox/warmbox/kube"
	"github.com/warmbox/warmbox/pool"
	"github.com/warmbox/warmbox/runner/wire"
)

// backendRuntime is one backend's runtime for python, reduced to what
// the measurement needs.
type backendRuntime[S pool.Sandbox] struct {
	name    string
	create  func(context.Context) (S, error)
	handoff func(context.Context, S, wire.Job, wire.OutputFunc) (wire.Result, error)
	destroy func(context.Context, S) error
}

// TestMeasure prints sandbox start time, hand-off latency per mode and
// the sandbox replacement rate for the Kubernetes and the Docker backend,
// measured in one run on this machine (medians). It is not a timed test:
// it fails only when something does not work. It runs with the rest of
// test/kube; `make kube-bench` runs it alone and shows the table.
func TestMeasure(t *testing.T) {
	requireCluster(t)
	applyBase(t)
	cfg, err := daemon.LoadConfig("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	py := cfg.Languages["python"]
	job := wire.Job{Files: []wire.File{{Name: py.File, Content: []byte("print('hello')")}}, Command: py.Command,
		Entry: py.File, Env: py.Env, Limits: wire.Limits{TimeoutMs: 10000, OutputBytes: 10240}}
	scope := fmt.Sprintf("measure-%d", time.Now().UnixNano()%1e9)
	ctx := context.Background()

	cl, err := kube.New(ctx, kube.Options{Kubeconfig: os.Getenv("KUBECONFIG"), Namespace: namespace, Instance: uuid.NewString(),
		Scope: scope, RunnerImage: cfg.Kubernetes.RunnerImage})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Reap(context.Background(), true) })
	eng, err := engine.New(engine.Options{RunnerPath: testdaemon.Runner(t), Instance: uuid.NewString(), Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Reap(context.Background(), true); eng.Close() })

	const n = 15
	fmt.Printf("\n%-12s %-9s %14s %14s %16s\n", "backend", "hand-off", "create p50 ms", "hello p50 ms", "replace /s (3x)")
	for _, mode := range []string{"exec", "prestart"} {
		spec := py.Spec("python")
		spec.Handoff, spec.Preload = mode, nil
		ks := cl.Sandboxes(spec)
		measure(t, backendRuntime[*kube.Pod]{"kubernetes", ks.Create, ks.Handoff, ks.Destroy}, mode, job, n)
		ds := eng.Sandboxes(spec)
		measure(t, backendRuntime[*engine.Container]{"docker", ds.Create, ds.Handoff, ds.Destroy}, mode, job, n)
	}
}

// measure creates n sandboxes one by one (timing each), runs the job in
// each (timing the hand-off), destroys them, then creates 3n with three
// in flight, as the pools' create_parallel does, for the rate.
func measure[S pool.Sandbox](t *testing.T, b backendRuntime[S], mode string, job wire.Job, n int) {
	ctx := context.Background()
	var creates, handoffs []time.Duration
	for range n {
		start := time.Now()
		s, err := b.create(ctx)
		if err != nil {
			t.Fatalf("%s %s create: %v", b.name, mode, err)
		}
		creates = append(creates, time.Since(start))
		start = time.Now()
		res, err := b.handoff(ctx, s, job, nil)
		handoffs = append(handoffs, time.Since(start))
		if err != nil || string(res.Stdout) != "hello\n" {
			t.Fatalf("%s %s hand-off: %v %+v", b.name, mode, err, res)
		}
		if err := b.destroy(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	total := 3 * n
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	start := time.Now()
	for range total {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := b.create(ctx)
			if err == nil {
				err = b.destroy(ctx, s)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rate := float64(total) / time.Since(start).Seconds()
	if len(errs) > 0 {
		t.Fatalf("%s %s: %d of %d creates failed: %v", b.name, mode, len(errs), total, errs[0])
	}
	fmt.Printf("%-12s %-9s %14.1f %14.1f %16.1f\n", b.name, mode, ms(median(creates)), ms(median(handoffs)), rate)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
