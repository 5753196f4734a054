package dispatch

import (
	"context"
	"strings"
	"testing"

	"github.com/warmbox/warmbox/runner/wire"
)

// Health's Summary says why a language is not ready in fixed words, for
// anyone; Reason adds the detail (engine or self-test text) for operators.
func TestHealthSummaryCarriesNoDetail(t *testing.T) {
	const secret = "/var/lib/docker/overlay2/abc: permission denied"
	rt := &fakeRuntime{handoff: func(ctx context.Context, s *fakeSandbox, job wire.Job) (wire.Result, error) {
		return wire.Result{Stage: wire.Stage{ExitCode: 1, Stderr: []byte(secret)}}, nil
	}}
	d := newDispatcher(t, rt, smallPool())
	if h := d.Health()[0]; h.Ready || h.Summary != NotReadyWarmingUp {
		t.Errorf("before the self-test: %+v, want summary %q", h, NotReadyWarmingUp)
	}
	if err := d.SelfTest(context.Background()); err == nil {
		t.Fatal("self-test passed, want it to fail")
	}
	h := d.Health()[0]
	if h.Ready || h.Summary != NotReadySelfTestFailed {
		t.Errorf("after a failed self-test: %+v, want summary %q", h, NotReadySelfTestFailed)
	}
	if !strings.Contains(h.Reason, secret) || strings.Contains(h.Summary, secret) {
		t.Errorf("reason %q, summary %q: want the detail in the reason only", h.Reason, h.Summary)
	}
}
