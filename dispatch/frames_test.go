package dispatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warmbox/warmbox/runner/wire"
)

// A frame that is not the runner's answer (forged, or longer than the
// runner writes) loses the sandbox: 503 sandbox_lost, the sandbox
// destroyed, and the job never handed to another sandbox, even when the
// backend's error also says "not started".
func TestForeignFrameIsLostNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"over-long frame", fmt.Errorf("hand-off: runner frame refused: %w", wire.ErrFrameTooLarge)},
		{"over-long frame before the ack", fmt.Errorf("%w: %w", errNotStarted, wire.ErrFrameTooLarge)},
		{"forged frame before the ack", fmt.Errorf("%w: %w", errNotStarted, wire.ErrForged)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int32
				rt := &fakeRuntime{handoff: func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
					calls.Add(1)
					return wire.Result{}, tc.err
				}}
				pc := smallPool()
				pc.MaxUses = 5
				d := newDispatcher(t, rt, pc)
				_, err := d.Execute(context.Background(), request(5*time.Second))
				if !errors.Is(err, ErrSandboxLost) {
					t.Fatalf("err = %v, want ErrSandboxLost", err)
				}
				if got := calls.Load(); got != 1 {
					t.Errorf("hand-offs = %d, want 1 (never retried)", got)
				}
				synctest.Wait()
				if got := rt.destroyedCount(); got != 1 {
					t.Errorf("destroyed %d sandboxes, want the one that sent the frame", got)
				}
			})
		})
	}
}

// Output past the language's cap is clamped and flagged, whatever the
// runner sent, and a sandbox whose runner sent it is not reused.
func TestOutputClampedToCap(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		stdout, stderr       int
		wantOut, wantErr     int
		wantTrunc, destroyed bool
	}{
		{name: "within the caps", stdout: 10, stderr: 10240, wantOut: 10, wantErr: 10240},
		{name: "stdout over", stdout: 10241, stderr: 5, wantOut: 10240, wantErr: 5, wantTrunc: true, destroyed: true},
		{name: "stderr over", stdout: 0, stderr: 1 << 20, wantOut: 0, wantErr: 10240, wantTrunc: true, destroyed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rt := &fakeRuntime{handoff: func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
					return wire.Result{Stage: wire.Stage{Stdout: bytes.Repeat([]byte("o"), tc.stdout), Stderr: bytes.Repeat([]byte("e"), tc.stderr)}}, nil
				}}
				pc := smallPool()
				pc.MaxUses = 5
				d := newDispatcher(t, rt, pc)
				out, err := d.Execute(context.Background(), request(5*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				res := out.Result
				if len(res.Stdout) != tc.wantOut || len(res.Stderr) != tc.wantErr {
					t.Errorf("got %d+%d bytes, want %d+%d", len(res.Stdout), len(res.Stderr), tc.wantOut, tc.wantErr)
				}
				if got := res.StdoutTruncated || res.StderrTruncated; got != tc.wantTrunc {
					t.Errorf("truncated = %v/%v, want %v", res.StdoutTruncated, res.StderrTruncated, tc.wantTrunc)
				}
				if tc.stdout > tc.wantOut != res.StdoutTruncated || tc.stderr > tc.wantErr != res.StderrTruncated {
					t.Errorf("flags %v/%v do not name the clamped stream", res.StdoutTruncated, res.StderrTruncated)
				}
				synctest.Wait()
				if got := rt.destroyedCount() > 0; got != tc.destroyed {
					t.Errorf("sandbox destroyed = %v, want %v", got, tc.destroyed)
				}
			})
		})
	}
}
