package hostile

import (
	"testing"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// execConfig serves every language with the exec hand-off (a docker
// exec of the runner per job, the runner's `run` process next to the
// job, PID 1 an idle runner) in single-use sandboxes: the opt-in
// isolation level where no two jobs ever share a container.
const execConfig = `
rate_limit: {requests: 0}
pool: {min_idle: 2, max_size: 5, autosize: false, max_waiters: 16, max_uses: 1, max_wait: 30s}
languages:
  python: {handoff: exec}
  node: {handoff: exec}
  bash: {handoff: exec}
`

// TestExecHandoff runs the cases where the hand-off matters (the kill
// path, outliving the job, the runner's descriptors, output framing)
// with the exec hand-off, against their exec expectation where it
// differs from the default hand-off's.
func TestExecHandoff(t *testing.T) {
	var cases []Case
	for _, c := range loadCases(t) {
		switch {
		case c.Exec != nil:
			c.Expect = *c.Exec
		case !c.ExecSame:
			continue
		}
		cases = append(cases, c)
	}
	waitForEngine(t)
	d := testdaemon.Start(t, testdaemon.Options{Config: execConfig, Env: hostSecrets})
	newBattery(t, d, 2).lanes(t, cases, "single")
}
