package hostile

import (
	"testing"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// execConfig serves every language with the exec hand-off: a docker
// exec of the runner per job, the runner's `run` process next to the
// job, PID 1 an idle runner.
const execConfig = config + `
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
