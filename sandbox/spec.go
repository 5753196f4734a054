package sandbox

import "github.com/warmbox/warmbox/policy"

// Hand-off modes: how a job reaches a sandbox's runner.
const (
	// HandoffExec runs the runner's `run` per job (docker exec, or
	// pods/exec), the program started cold.
	HandoffExec = "exec"
	// HandoffPrestart keeps the runner's `serve` as PID 1 with the
	// language's interpreter started ahead, and sends it each job as a
	// frame on the sandbox's attach stream.
	HandoffPrestart = "prestart"
)

// Spec describes the sandboxes of one language.
type Spec struct {
	Language string
	Image    string
	// Runtime is the OCI runtime on Docker ("" for the engine's default,
	// runc or runsc), the Pods' RuntimeClass on Kubernetes ("" for the
	// cluster's default).
	Runtime string
	Limits  policy.Limits
	// Handoff is HandoffExec or HandoffPrestart.
	Handoff string
	// Command and Env are the interpreter and the program environment;
	// prestart sandboxes start the interpreter with them ahead of a job.
	Command []string
	Env     []string
	// Bootstrap names the runner's built-in bootstrap that pre-loads the
	// interpreter (python, node, bash); empty spawns it per job.
	Bootstrap string
	// Preload are modules the bootstrap imports before each job.
	Preload []string
	// ExecWorkDir mounts the work dir without noexec, for languages
	// whose compiler's output must run there. (A Kubernetes emptyDir has
	// no mount options: its work dir always allows it.)
	ExecWorkDir bool
}
