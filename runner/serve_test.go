package runner

import (
	"bytes"
	"testing"

	"github.com/warmbox/warmbox/runner/wire"
)

// serve itself changes the whole process (harden), so it runs in
// containers (container_serve_test.go); its frames are tested here.

func TestWriteReplyTooLarge(t *testing.T) {
	var buf bytes.Buffer
	big := wire.Reply{Kind: "result", Result: &wire.Result{Stage: wire.Stage{Stdout: make([]byte, wire.MaxFrameBytes)}}}
	if err := writeReply(&buf, big, t.Logf); err != nil {
		t.Fatal(err)
	}
	var got wire.Reply
	if err := wire.ReadFrame(&buf, &got); err != nil {
		t.Fatal(err)
	}
	if got.Kind != "result" || got.Result == nil || got.Result.Error != "result frame too large" {
		t.Errorf("got %+v, want a result with the error", got)
	}
}
