package hostile

import (
	"testing"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// reuseConfig gives each language one sandbox that serves many jobs,
// reset in between: a case's follow-up runs where the case ran.
const reuseConfig = `
rate_limit: {requests: 0}
pool: {min_idle: 1, max_size: 1, autosize: false, max_uses: 255, max_waiters: 16, max_wait: 30s}
`

// TestReuse runs the cases of mode reuse: the sandbox is reset and kept
// between jobs (pool.max_uses > 1), and each case's follow-up proves
// that the reset left the next job nothing: no file, no IPC object, no
// process, no zombie, no late output, the whole memory and pids quota.
func TestReuse(t *testing.T) {
	cases := loadCases(t)
	waitForEngine(t)
	d := testdaemon.Start(t, testdaemon.Options{Config: reuseConfig, Env: hostSecrets})
	newBattery(t, d, 1).lanes(t, cases, "reuse")
}
