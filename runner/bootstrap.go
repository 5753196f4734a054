package runner

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/warmbox/warmbox/runner/wire"
)

// The bootstraps that pre-start an interpreter: see bootstrap/*. Each is
// passed on the interpreter's command line, loads the interpreter,
// writes one byte on readyFD, then reads the job's command line from
// ctlFD until EOF (each argument ended by a NUL byte), closes both fds
// and only then runs the program.
var (
	//go:embed bootstrap/python.py
	pythonBootstrap string
	//go:embed bootstrap/node.js
	nodeBootstrap string
	//go:embed bootstrap/bash.sh
	bashBootstrap string
)

// The bootstrap's control and ready pipes. Not 3 and 4: node opens about
// fifteen fds of its own while it starts, which would then be numbered
// after ours and differ from a cold start's in the program's fd table.
// Both are closed before the program runs. The sandbox's RLIMIT_NOFILE
// must exceed readyFD.
const (
	ctlFD   = 100
	readyFD = 101
)

// bootstrap is how one language pre-starts.
type bootstrap struct {
	name string
	// flag and script follow the command: python3 -c SCRIPT.
	flag, script string
	// withCommand: the go signal carries the command too (the bootstrap
	// execs the whole command line), not only the entry and args.
	withCommand bool
	// preloads: the bootstrap can import modules before its ready
	// signal (python); preload lists them, after the script on its
	// command line.
	preloads bool
	preload  []string
}

var bootstraps = map[string]*bootstrap{
	"python": {name: "python", flag: "-c", script: pythonBootstrap, preloads: true},
	"node":   {name: "node", flag: "-e", script: nodeBootstrap},
	"bash":   {name: "bash", flag: "-c", script: bashBootstrap, withCommand: true},
}

func lookupBootstrap(name string) (*bootstrap, error) {
	b, ok := bootstraps[name]
	if !ok {
		return nil, fmt.Errorf("unknown bootstrap %q (want python, node or bash)", name)
	}
	return b, nil
}

// preloadName is a module name a bootstrap may import ahead: dotted
// identifiers (matplotlib.pyplot), nothing an interpreter would read as
// an option or a path.
var preloadName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// withPreload is b importing modules before its ready signal.
func (b *bootstrap) withPreload(modules []string) (*bootstrap, error) {
	if len(modules) == 0 {
		return b, nil
	}
	if !b.preloads {
		return nil, fmt.Errorf("the %s bootstrap cannot preload modules (python can)", b.name)
	}
	for _, m := range modules {
		if !preloadName.MatchString(m) {
			return nil, fmt.Errorf("preload %s: not a module name", wire.QuoteName(m))
		}
	}
	c := *b
	c.preload = slices.Clone(modules)
	return &c, nil
}

// argv is the pre-started interpreter's command line: the modules to
// preload follow the script, where the bootstrap reads them.
func (b *bootstrap) argv(command []string) []string {
	return append(append(append([]string{}, command...), b.flag, b.script), b.preload...)
}

// message is the go signal for job: its command line as the bootstrap
// wants it, each argument ended by a NUL byte.
func (b *bootstrap) message(job wire.Job) []byte {
	var args []string
	if b.withCommand {
		args = append(args, job.Command...)
	}
	args = append(append(args, job.Entry), job.Args...)
	var sb strings.Builder
	for _, a := range args {
		sb.WriteString(a)
		sb.WriteByte(0)
	}
	return []byte(sb.String())
}
