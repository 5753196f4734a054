package soak

import (
	"fmt"
	"strings"
)

// kind is one program of the mix, with what a 200 for it must look like.
type kind struct {
	Name    string
	Lang    string
	Code    string
	Timeout int // seconds
	Weight  int // share of the mix
	Hostile bool
	// Group names what a hostile program tries ("fork bomb", ...); the
	// soak checks that each group ran at least once.
	Group string
	// Check returns why a 200 answer is wrong for this program, "" if it
	// is right.
	Check func(r result) string
}

// result is the part of a 200 answer the checks read.
type result struct {
	Status    string  `json:"status"`
	Stdout    string  `json:"stdout"`
	Stderr    string  `json:"stderr"`
	ExitCode  *int    `json:"exit_code"`
	Signal    *string `json:"signal"`
	TimedOut  bool    `json:"timed_out"`
	OOMKilled bool    `json:"oom_killed"`
	Truncated struct {
		Stdout bool `json:"stdout"`
	} `json:"truncated"`
}

func (r result) String() string {
	code, sig := "null", "null"
	if r.ExitCode != nil {
		code = fmt.Sprint(*r.ExitCode)
	}
	if r.Signal != nil {
		sig = *r.Signal
	}
	return fmt.Sprintf("status %s exit %s signal %s timed_out %v oom_killed %v truncated %v stdout %.60q stderr %.120q",
		r.Status, code, sig, r.TimedOut, r.OOMKilled, r.Truncated.Stdout, r.Stdout, r.Stderr)
}

// prints: success with exactly this stdout. A normal program may also
// run out of time on a machine the hostile ones keep busy; that is
// counted, not failed.
func prints(want string) func(result) string {
	return func(r result) string {
		switch {
		case r.Status == "timeout" && r.TimedOut:
			return ""
		case r.Status != "success" || r.Stdout != want:
			return "want success printing " + fmt.Sprintf("%q", want)
		}
		return ""
	}
}

// timesOut: the program is stopped at its timeout.
func timesOut(r result) string {
	if r.Status != "timeout" || !r.TimedOut {
		return "want status timeout, timed_out true"
	}
	return ""
}

// killedForMemory: the memory limit kills the program (the OOM killer's
// SIGKILL), or, on a starved machine, its timeout comes first.
func killedForMemory(r result) string {
	switch {
	case r.Status == "error" && (r.OOMKilled || r.Signal != nil && *r.Signal == "SIGKILL"):
	case r.Status == "timeout" && r.TimedOut:
	default:
		return "want error with oom_killed or SIGKILL (or a timeout)"
	}
	return ""
}

// truncatedFlood: the program ends normally, its stdout cut at the cap.
func truncatedFlood(r result) string {
	switch {
	case r.Status == "success" && r.Truncated.Stdout && len(r.Stdout) <= 16<<10:
	case r.Status == "timeout" && r.TimedOut:
	default:
		return "want success with truncated stdout (at most the 10 KB cap and its marker)"
	}
	return ""
}

// mix returns the soak's programs; marker tags the background daemons so
// that the test can look for survivors on the host.
func mix(marker string) []kind {
	return []kind{
		{Name: "python sum", Lang: "python", Code: "print(sum(range(1000)))", Timeout: 5, Weight: 4, Check: prints("499500\n")},
		{Name: "node map", Lang: "node", Code: "console.log([1, 2, 3].map(x => x * 2).join(','))", Timeout: 5, Weight: 6, Check: prints("2,4,6\n")},
		{Name: "bash arith", Lang: "bash", Code: "echo $((6 * 7))", Timeout: 5, Weight: 6, Check: prints("42\n")},
		{Name: "python files", Lang: "python", Code: "import json, os\nopen('/tmp/x.json', 'w').write(json.dumps({'a': 1}))\nprint(json.load(open('/tmp/x.json'))['a'], 20000 < os.getuid() < 65536)",
			Timeout: 5, Weight: 2, Check: prints("1 True\n")},
		{Name: "bash fork bomb", Lang: "bash", Code: ":(){ :|:& };:; sleep 30", Timeout: 5, Weight: 1, Hostile: true, Group: "fork bomb", Check: timesOut},
		{Name: "python fork loop", Lang: "python", Code: "import os\nwhile True:\n    try:\n        os.fork()\n    except BlockingIOError:\n        pass",
			Timeout: 5, Weight: 1, Hostile: true, Group: "fork bomb", Check: timesOut},
		{Name: "python memory bomb", Lang: "python", Code: "chunks = []\nwhile True:\n    chunks.append(b'\\x01' * (16 * 1024 * 1024))",
			Timeout: 10, Weight: 1, Hostile: true, Group: "memory bomb", Check: killedForMemory},
		{Name: "node memory bomb", Lang: "node", Code: "const a = [];\nfor (;;) a.push(Buffer.alloc(16 * 1024 * 1024, 1));",
			Timeout: 10, Weight: 1, Hostile: true, Group: "memory bomb", Check: func(r result) string {
				// V8 may abort first ("heap out of memory", SIGABRT or exit 134).
				if r.Status == "error" && strings.Contains(r.Stderr, "heap out of memory") {
					return ""
				}
				return killedForMemory(r)
			}},
		{Name: "python output flood", Lang: "python", Code: "for i in range(200000):\n    print('flood', i)", Timeout: 5, Weight: 1, Hostile: true, Group: "output flood", Check: truncatedFlood},
		{Name: "bash flood, no newline", Lang: "bash", Code: "head -c 5000000 /dev/zero | tr '\\0' x", Timeout: 5, Weight: 1, Hostile: true, Group: "output flood", Check: truncatedFlood},
		{Name: "node infinite loop", Lang: "node", Code: "while (true) {}", Timeout: 2, Weight: 2, Hostile: true, Group: "infinite loop", Check: timesOut},
		{Name: "python infinite loop", Lang: "python", Code: "while True:\n    pass", Timeout: 2, Weight: 1, Hostile: true, Group: "infinite loop", Check: timesOut},
		{Name: "bash background daemon", Lang: "bash", Code: "nohup sleep " + marker + " >/dev/null 2>&1 &\nsetsid sleep " + marker + " &\necho started",
			Timeout: 5, Weight: 1, Hostile: true, Group: "background daemon", Check: prints("started\n")},
	}
}

// schedule expands the mix by weight into the order clients walk.
func schedule(kinds []kind) []kind {
	var out []kind
	for _, k := range kinds {
		for range k.Weight {
			out = append(out, k)
		}
	}
	// Interleave so that consecutive picks differ: walk it with a stride
	// coprime to its length, which visits every entry once.
	n := len(out)
	stride := 7
	for gcd(n, stride) != 1 {
		stride++
	}
	mixed := make([]kind, n)
	for i := range out {
		mixed[i] = out[(i*stride)%n]
	}
	return mixed
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
