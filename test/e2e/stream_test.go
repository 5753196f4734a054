package e2e

import (
	"testing"

	"github.com/warmbox/warmbox/internal/apisuite"
)

// TestStream: POST /execute with Accept: text/event-stream, in both
// hand-off modes and every language: output as it is produced, caps,
// timeouts, a client that leaves mid-stream, and JSON errors before the
// program starts.
func TestStream(t *testing.T) { modes(t, apisuite.Streaming) }
