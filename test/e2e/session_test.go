package e2e

import (
	"testing"

	"github.com/warmbox/warmbox/internal/apisuite"
	"github.com/warmbox/warmbox/internal/testdaemon"
)

// TestSessions runs the session suites against one daemon, one after
// another (the caps suite needs the caps to itself).
func TestSessions(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config + apisuite.SessionConfig})
	t.Run("lifecycle", func(t *testing.T) { apisuite.Sessions(t, d) })
	t.Run("caps", func(t *testing.T) { apisuite.SessionCaps(t, d) })
	t.Run("expiry", func(t *testing.T) { apisuite.SessionExpiry(t, d) })
	t.Run("isolation", func(t *testing.T) { apisuite.SessionIsolation(t, d) })
	t.Run("churn", func(t *testing.T) { apisuite.SessionChurn(t, d, 5) })
	if n := testdaemon.Metric(t, d.URL, "warmbox_sessions_open"); n != 0 {
		t.Errorf("warmbox_sessions_open = %v after every session closed, want 0", n)
	}
}
