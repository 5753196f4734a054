package bench

import (
	"fmt"
	"strings"
)

// Kinds of built-in program, in the order reports list them.
var Kinds = []string{"hello", "cpu", "output", "stdin", "multifile"}

// Languages with built-in programs.
var Languages = []string{"python", "node", "bash"}

// program is one built-in program and the stdout it must print.
type program struct {
	code  string
	files map[string]string
	stdin string
	want  string
}

// cpuLoop is how many iterations each language's CPU loop runs: enough
// for some tens of milliseconds of interpreter work, not more.
var cpuLoop = map[string]int{"python": 200_000, "node": 2_000_000, "bash": 20_000}

// cpuMod keeps the CPU loop's sum exact in every language.
const cpuMod = 1_000_003

// outputLines and outputWidth size the output program: about 5 KB,
// under the daemon's default 10 KB cap.
const (
	outputLines = 100
	outputWidth = 40
)

// stdinText is what the stdin program is fed and must echo back.
var stdinText = func() string {
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "stdin line %02d: the quick brown fox\n", i)
	}
	return b.String()
}()

// builtin returns the program of a kind in a language.
func builtin(kind, lang string) (program, error) {
	byLang, ok := programs[kind]
	if !ok {
		return program{}, fmt.Errorf("unknown scenario %q (built-ins: %s, mix)", kind, strings.Join(Kinds, ", "))
	}
	p, ok := byLang[lang]
	if !ok {
		return program{}, fmt.Errorf("no built-in programs for language %q (they exist for %s; use --file for others)", lang, strings.Join(Languages, ", "))
	}
	return p, nil
}

var programs = map[string]map[string]program{
	"hello": {
		"python": {code: `print("hello, world")`, want: "hello, world\n"},
		"node":   {code: `console.log("hello, world")`, want: "hello, world\n"},
		"bash":   {code: `echo "hello, world"`, want: "hello, world\n"},
	},
	"cpu": {
		"python": {
			code: fmt.Sprintf("s = 0\nfor i in range(%d):\n    s = (s + i * i) %% %d\nprint(s)", cpuLoop["python"], cpuMod),
			want: cpuWant(cpuLoop["python"]),
		},
		"node": {
			code: fmt.Sprintf("let s = 0;\nfor (let i = 0; i < %d; i++) s = (s + i * i) %% %d;\nconsole.log(s);", cpuLoop["node"], cpuMod),
			want: cpuWant(cpuLoop["node"]),
		},
		"bash": {
			code: fmt.Sprintf("s=0\nfor ((i = 0; i < %d; i++)); do s=$(( (s + i * i) %% %d )); done\necho \"$s\"", cpuLoop["bash"], cpuMod),
			want: cpuWant(cpuLoop["bash"]),
		},
	},
	"output": {
		"python": {
			code: fmt.Sprintf("for i in range(%d):\n    print(\"line %%03d %%s\" %% (i, \"x\" * %d))", outputLines, outputWidth),
			want: outputWant(),
		},
		"node": {
			code: fmt.Sprintf("const out = [];\nfor (let i = 0; i < %d; i++) out.push(\"line \" + String(i).padStart(3, \"0\") + \" \" + \"x\".repeat(%d));\nconsole.log(out.join(\"\\n\"));", outputLines, outputWidth),
			want: outputWant(),
		},
		"bash": {
			code: fmt.Sprintf("x=%s\nfor ((i = 0; i < %d; i++)); do printf 'line %%03d %%s\\n' \"$i\" \"$x\"; done", strings.Repeat("x", outputWidth), outputLines),
			want: outputWant(),
		},
	},
	"stdin": {
		"python": {code: "import sys\nsys.stdout.write(sys.stdin.read())", stdin: stdinText, want: stdinText},
		"node":   {code: `process.stdout.write(require("fs").readFileSync(0))`, stdin: stdinText, want: stdinText},
		"bash":   {code: `while IFS= read -r line; do printf '%s\n' "$line"; done`, stdin: stdinText, want: stdinText},
	},
	"multifile": {
		"python": {
			code:  "from helper import greet\nprint(greet(\"warmbox\"))",
			files: map[string]string{"helper.py": "def greet(name):\n    return \"hello, \" + name + \" from helper.py\"\n"},
			want:  "hello, warmbox from helper.py\n",
		},
		"node": {
			code:  "const { greet } = require(\"./helper.js\");\nconsole.log(greet(\"warmbox\"));",
			files: map[string]string{"helper.js": "exports.greet = (name) => \"hello, \" + name + \" from helper.js\";\n"},
			want:  "hello, warmbox from helper.js\n",
		},
		"bash": {
			code:  "source ./helper.sh\ngreet warmbox",
			files: map[string]string{"helper.sh": "greet() { echo \"hello, $1 from helper.sh\"; }\n"},
			want:  "hello, warmbox from helper.sh\n",
		},
	},
}

func cpuWant(n int) string {
	s := 0
	for i := range n {
		s = (s + i*i) % cpuMod
	}
	return fmt.Sprintf("%d\n", s)
}

func outputWant() string {
	var b strings.Builder
	for i := range outputLines {
		fmt.Fprintf(&b, "line %03d %s\n", i, strings.Repeat("x", outputWidth))
	}
	return b.String()
}
