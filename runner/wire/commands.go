package wire

import (
	"strconv"
	"strings"
)

// MountPath is where the runner binary appears inside every sandbox, on
// every backend.
const MountPath = "/opt/warmbox/runner"

// The command lines below are the one definition of how a backend starts
// the runner; the runner's own parsing (Main) is their other side.

// IdleCommand is PID 1 of an exec-mode sandbox whose block starts at
// runnerUID.
func IdleCommand(runnerUID int) []string {
	return []string{MountPath, "idle", "--runner-uid", strconv.Itoa(runnerUID)}
}

// RunCommand runs one job (a run request frame on stdin) as jobUID, in
// exec mode.
func RunCommand(runnerUID, jobUID int) []string {
	return []string{MountPath, "run", "--runner-uid", strconv.Itoa(runnerUID), "--job-uid", strconv.Itoa(jobUID)}
}

// ResetCommand resets a sandbox after the job of jobUID, in exec mode.
func ResetCommand(runnerUID, jobUID int) []string {
	return []string{MountPath, "reset", "--runner-uid", strconv.Itoa(runnerUID), "--job-uid", strconv.Itoa(jobUID)}
}

// Serve describes PID 1 of a prestart-mode sandbox.
type Serve struct {
	RunnerUID int
	// Bootstrap names the built-in bootstrap (python, node, bash); empty
	// starts every job cold.
	Bootstrap string
	// Preload are modules the bootstrap imports before the job (python).
	Preload []string
	// ReadyOnHello: the ready frame waits for a "hello" request (a
	// backend whose attach stream connects after the start).
	ReadyOnHello bool
	// Env and Command are the interpreter's environment and command line.
	Env, Command []string
}

// Args is serve's command line.
func (s Serve) Args() []string {
	cmd := []string{MountPath, "serve", "--runner-uid", strconv.Itoa(s.RunnerUID)}
	if s.ReadyOnHello {
		cmd = append(cmd, "--ready-on-hello")
	}
	if s.Bootstrap != "" {
		cmd = append(cmd, "--bootstrap", s.Bootstrap)
	}
	if len(s.Preload) > 0 {
		cmd = append(cmd, "--preload", strings.Join(s.Preload, ","))
	}
	for _, e := range s.Env {
		cmd = append(cmd, "--env", e)
	}
	return append(append(cmd, "--"), s.Command...)
}
