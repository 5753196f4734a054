package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// program is one language's test programs. Each prints or fails in a
// way only a real run of that toolchain produces.
type program struct {
	hello string // prints "hello, world"
	stdin string // prints "got " and the first line of stdin
	args  string // prints its arguments, one per line
	// fail ends with an uncaught error: exit status failCode, failText
	// in its stderr.
	fail     string
	failCode int
	failText string
	// broken does not compile (compiled languages only); brokenText is
	// in the compiler's output (tsc writes its errors to stdout).
	broken     string
	brokenText string
}

// programs is every embedded language's.
var programs = map[string]program{
	"python": {
		hello: `print("hello, world")`,
		stdin: `print("got " + input())`,
		args:  "import sys\nfor a in sys.argv[1:]: print(a)",
		fail:  "def f(): return 1 / 0\nf()", failCode: 1, failText: "ZeroDivisionError",
	},
	"node": {
		hello: `console.log("hello, world")`,
		stdin: `console.log("got " + require("fs").readFileSync(0, "utf8").split("\n")[0])`,
		args:  `for (const a of process.argv.slice(2)) console.log(a)`,
		fail:  `null.x`, failCode: 1, failText: "TypeError",
	},
	"typescript": {
		hello: `const greeting: string = "hello, world"; console.log(greeting)`,
		stdin: `const line: string = require("fs").readFileSync(0, "utf8").split("\n")[0]; console.log("got " + line)`,
		args:  `for (const a of process.argv.slice(2) as string[]) console.log(a)`,
		fail:  `throw new RangeError("out of range")`, failCode: 1, failText: "RangeError",
		broken: `const n: number = "not a number"; console.log(n)`, brokenText: "TS2322",
	},
	"bash": {
		hello: `echo "hello, world"`,
		stdin: `read -r line; echo "got $line"`,
		args:  `for a in "$@"; do echo "$a"; done`,
		fail:  "set -e\nfalse_command_that_does_not_exist", failCode: 127, failText: "command not found",
	},
	"c": {
		hello: "#include <stdio.h>\nint main(void) { puts(\"hello, world\"); return 0; }\n",
		stdin: "#include <stdio.h>\nint main(void) { char b[256]; if (!fgets(b, sizeof b, stdin)) return 1; printf(\"got %s\", b); return 0; }\n",
		args:  "#include <stdio.h>\n#include <math.h>\nint main(int c, char **v) { for (int i = 1; i < c; i++) puts(v[i]); return (int)sqrt(0.0); }\n",
		fail:  "#include <stdio.h>\n#include <stdlib.h>\nint main(void) { fprintf(stderr, \"fatal: bad input\\n\"); exit(3); }\n", failCode: 3, failText: "fatal: bad input",
		broken: "int main(void) { return undeclared_name; }\n", brokenText: "undeclared",
	},
	"cpp": {
		hello: "#include <iostream>\nint main() { std::cout << \"hello, world\" << std::endl; }\n",
		stdin: "#include <iostream>\n#include <string>\nint main() { std::string s; std::getline(std::cin, s); std::cout << \"got \" << s << std::endl; }\n",
		args:  "#include <iostream>\nint main(int c, char **v) { for (int i = 1; i < c; i++) std::cout << v[i] << '\\n'; }\n",
		fail:  "#include <stdexcept>\nint main() { throw std::runtime_error(\"boom\"); }\n", failCode: -1, failText: "boom",
		broken: "int main() { std::string s; }\n", brokenText: "error",
	},
	"d": {
		hello: "import std.stdio;\nvoid main() { writeln(\"hello, world\"); }\n",
		stdin: "import std.stdio, std.string;\nvoid main() { writeln(\"got \", readln().chomp); }\n",
		args:  "import std.stdio;\nvoid main(string[] args) { foreach (a; args[1 .. $]) writeln(a); }\n",
		fail:  "void main() { throw new Exception(\"boom\"); }\n", failCode: 1, failText: "boom",
		broken: "void main() { int x = \"text\"; }\n", brokenText: "error",
	},
	"fortran": {
		hello: "program hello\n  print '(a)', 'hello, world'\nend program hello\n",
		stdin: "program echo\n  character(len=256) :: line\n  read '(a)', line\n  print '(a)', 'got ' // trim(line)\nend program echo\n",
		args:  "program args\n  character(len=256) :: a\n  integer :: i\n  do i = 1, command_argument_count()\n    call get_command_argument(i, a)\n    print '(a)', trim(a)\n  end do\nend program args\n",
		fail:  "program fail\n  write (0, '(a)') 'fatal: bad input'\n  error stop 3\nend program fail\n", failCode: 3, failText: "fatal: bad input",
		broken: "program broken\n  integer :: x\n  x = 'text'\nend program broken\n", brokenText: "Error",
	},
	"go": {
		hello: "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello, world\") }\n",
		stdin: "package main\n\nimport (\n\t\"bufio\"\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\ts := bufio.NewScanner(os.Stdin)\n\ts.Scan()\n\tfmt.Println(\"got \" + s.Text())\n}\n",
		args:  "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\tfor _, a := range os.Args[1:] {\n\t\tfmt.Println(a)\n\t}\n}\n",
		fail:  "package main\n\nfunc main() { panic(\"boom\") }\n", failCode: 2, failText: "panic: boom",
		broken: "package main\n\nfunc main() { var x int = \"text\" }\n", brokenText: "cannot use",
	},
	"rust": {
		hello: "fn main() { println!(\"hello, world\"); }\n",
		stdin: "fn main() { let mut s = String::new(); std::io::stdin().read_line(&mut s).unwrap(); println!(\"got {}\", s.trim_end()); }\n",
		args:  "fn main() { for a in std::env::args().skip(1) { println!(\"{}\", a); } }\n",
		fail:  "fn main() { let v: Vec<i32> = Vec::new(); println!(\"{}\", v[3]); }\n", failCode: 101, failText: "index out of bounds",
		broken: "fn main() { let x: i32 = \"text\"; }\n", brokenText: "mismatched types",
	},
	"java": {
		hello: "public class Main {\n    public static void main(String[] args) { System.out.println(\"hello, world\"); }\n}\n",
		stdin: "import java.util.Scanner;\npublic class Main {\n    public static void main(String[] args) { System.out.println(\"got \" + new Scanner(System.in).nextLine()); }\n}\n",
		args:  "public class Main {\n    public static void main(String[] args) { for (String a : args) System.out.println(a); }\n}\n",
		fail:  "public class Main {\n    public static void main(String[] args) { Object o = null; o.hashCode(); }\n}\n", failCode: 1, failText: "NullPointerException",
		broken: "public class Main {\n    public static void main(String[] args) { int x = \"text\"; }\n}\n", brokenText: "incompatible types",
	},
	"csharp": {
		hello: "class Program { static void Main() { System.Console.WriteLine(\"hello, world\"); } }\n",
		stdin: "class Program { static void Main() { System.Console.WriteLine(\"got \" + System.Console.ReadLine()); } }\n",
		args:  "class Program { static void Main(string[] args) { foreach (var a in args) System.Console.WriteLine(a); } }\n",
		fail:  "class Program { static void Main() { throw new System.InvalidOperationException(\"boom\"); } }\n", failCode: 1, failText: "InvalidOperationException",
		broken: "class Program { static void Main() { int x = \"text\"; } }\n", brokenText: "error CS0029",
	},
	"ruby": {
		hello: `puts "hello, world"`,
		stdin: `puts "got #{gets.chomp}"`,
		args:  `ARGV.each { |a| puts a }`,
		fail:  `nil.upcase`, failCode: 1, failText: "NoMethodError",
	},
	"php": {
		hello: `<?php echo "hello, world\n";`,
		stdin: `<?php echo "got " . trim(fgets(STDIN)) . "\n";`,
		args:  `<?php foreach (array_slice($argv, 1) as $a) echo $a, "\n";`,
		fail:  `<?php throw new RuntimeException("boom");`, failCode: 255, failText: "RuntimeException",
	},
	"perl": {
		hello: `print "hello, world\n";`,
		stdin: `my $l = <STDIN>; chomp $l; print "got $l\n";`,
		args:  `print "$_\n" for @ARGV;`,
		fail:  `die "fatal: bad input\n";`, failCode: 255, failText: "fatal: bad input",
	},
	"lua": {
		hello: `print("hello, world")`,
		stdin: `print("got " .. io.read("l"))`,
		args:  `for _, a in ipairs(arg) do print(a) end`,
		fail:  `error("boom")`, failCode: 1, failText: "boom",
	},
	"r": {
		hello: `cat("hello, world\n")`,
		stdin: `cat("got ", readLines(file("stdin"), n = 1), "\n", sep = "")`,
		args:  `for (a in commandArgs(trailingOnly = TRUE)) cat(a, "\n", sep = "")`,
		fail:  `stop("boom")`, failCode: 1, failText: "boom",
	},
	"sqlite": {
		hello: `select 'hello, world';`,
		fail:  `select * from no_such_table;`, failCode: 1, failText: "no such table",
	},
	"ocaml": {
		hello: `print_endline "hello, world";;`,
		stdin: `print_endline ("got " ^ read_line ());;`,
		args:  `Array.iteri (fun i a -> if i > 0 then print_endline a) Sys.argv;;`,
		fail:  `failwith "boom";;`, failCode: 2, failText: "boom",
	},
	"elixir": {
		hello: `IO.puts("hello, world")`,
		stdin: `IO.puts("got " <> String.trim(IO.gets("")))`,
		args:  `Enum.each(System.argv(), &IO.puts/1)`,
		fail:  `raise ArgumentError, "boom"`, failCode: 1, failText: "ArgumentError",
	},
	"nim": {
		hello: `echo "hello, world"`,
		stdin: `echo "got ", readLine(stdin)`,
		args:  "import os\nfor a in commandLineParams(): echo a",
		fail:  "var s: seq[int]\necho s[3]", failCode: 1, failText: "IndexDefect",
		broken: `let x: int = "text"`, brokenText: "type mismatch",
	},
}

// TestLanguages runs every embedded language through HTTP: hello world,
// stdin, args, an uncaught error with its exit status and, for a
// compiled language, a compile error that stops the run. It needs every
// image (make images LANGS=all, which make test builds).
func TestLanguages(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{
		Config: "rate_limit: {requests: 0}\npool: {min_idle: 1, max_size: 2}\n",
		Env:    []string{"WARMBOX_LANGUAGES=all"},
	})
	envs := d.Get(t, "/environments")
	if envs.Status != http.StatusOK {
		t.Fatalf("/environments: HTTP %d %s", envs.Status, envs.Raw)
	}
	served := map[string]map[string]any{}
	for name, detail := range envs.Body["details"].(map[string]any) {
		served[name] = detail.(map[string]any)
	}
	if len(served) < 20 {
		t.Errorf("%d languages served, want at least 20", len(served))
	}
	for name, detail := range served {
		if _, ok := programs[name]; !ok {
			t.Errorf("language %s is served but has no test programs", name)
		}
		// images.sh labels every image with its packages' versions.
		if pk, _ := detail["packages"].([]any); len(pk) == 0 || !strings.Contains(fmt.Sprint(pk[0]), "=") {
			t.Errorf("language %s: packages %v, want its image's Debian packages as name=version", name, detail["packages"])
		}
	}
	var mu sync.Mutex // one language's subtests at a time may fail loudly; runs overlap
	var wg sync.WaitGroup
	// Three languages at a time: all 21 at once on a 2-core host starved
	// tsc (4 s of CPU) past its 30 s compile timeout in CI.
	slots := make(chan struct{}, 3)
	for name, p := range programs {
		env, ok := served[name]
		if !ok {
			t.Errorf("language %s is not served", name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			errs := checkLanguage(t, d, name, env, p)
			mu.Lock()
			defer mu.Unlock()
			for _, e := range errs {
				t.Errorf("%s: %s", name, e)
			}
		}()
	}
	wg.Wait()
}

// checkLanguage runs one language's programs and returns what went wrong.
func checkLanguage(t *testing.T, d *testdaemon.Daemon, name string, env map[string]any, p program) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if v, _ := env["version"].(string); v == "" {
		bad("/environments reports no version: %v", env)
	}
	run := func(code string, extra map[string]any) map[string]any {
		body := map[string]any{"environment": name, "code": code, "timeout": 60}
		for k, v := range extra {
			body[k] = v
		}
		r := d.Post(t, "/execute", body)
		if r.Status != http.StatusOK {
			bad("HTTP %d: %s", r.Status, r.Raw)
			return map[string]any{}
		}
		return r.Body
	}
	compiled := env["compile"] != nil
	ok := func(what string, res map[string]any, want string) {
		if res["status"] != "success" || res["stdout"] != want {
			bad("%s: want status success and stdout %q, got %s %q (stderr %q, error %v)", what, want, res["status"], res["stdout"], res["stderr"], res["error"])
		}
		if c, _ := res["compile"].(map[string]any); compiled && (c == nil || c["exit_code"] != 0.0) {
			bad("%s: a compiled language's answer must carry its successful compile stage, got %v", what, res["compile"])
		}
	}
	ok("hello", run(p.hello, nil), "hello, world\n")
	if p.stdin != "" {
		ok("stdin", run(p.stdin, map[string]any{"stdin": "first line\nsecond line\n"}), "got first line\n")
	}
	if p.args != "" {
		ok("args", run(p.args, map[string]any{"args": []string{"one", "two words", "--three"}}), "one\ntwo words\n--three\n")
	}
	res := run(p.fail, nil)
	code, _ := res["exit_code"].(float64)
	switch {
	case res["status"] != "error":
		bad("runtime error: status %v, want error (%v)", res["status"], res)
	case p.failCode == -1 && res["signal"] == nil:
		bad("runtime error: want a signal (an abort), got exit code %v", res["exit_code"])
	case p.failCode >= 0 && (res["exit_code"] == nil || int(code) != p.failCode):
		bad("runtime error: exit code %v, want %d (stderr %q)", res["exit_code"], p.failCode, res["stderr"])
	case !strings.Contains(fmt.Sprint(res["stderr"]), p.failText):
		bad("runtime error: stderr %q lacks %q", res["stderr"], p.failText)
	}
	if compiled != (p.broken != "") {
		bad("compile stage reported %v, but the test expects compiled=%v", env["compile"], p.broken != "")
	}
	if p.broken == "" {
		return errs
	}
	res = run(p.broken, nil)
	c, _ := res["compile"].(map[string]any)
	switch {
	case res["status"] != "error" || c == nil:
		bad("compile error: want status error and a compile stage, got %v", res)
	case c["exit_code"] == 0.0 || !strings.Contains(fmt.Sprint(c["stderr"], c["stdout"]), p.brokenText):
		bad("compile error: compiler stage %v lacks a failure with %q", c, p.brokenText)
	case res["exit_code"] != nil || res["stdout"] != "":
		bad("compile error: the program ran anyway: %v", res)
	case !strings.HasPrefix(fmt.Sprint(res["error"]), "compilation failed"):
		bad("compile error: error %q does not say the compilation failed", res["error"])
	}
	return errs
}

// TestLoopbackNames: inside a sandbox the loopback names resolve, so a
// program can serve on 127.0.0.1 and reach itself as localhost, and no
// other name resolves (the network stays off).
func TestLoopbackNames(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config})
	r := d.Post(t, "/execute", map[string]any{"environment": "python", "code": `import socket, threading
srv = socket.create_server(("127.0.0.1", 0))
port = srv.getsockname()[1]
threading.Thread(target=lambda: srv.accept()[0].sendall(b"pong"), daemon=True).start()
c = socket.create_connection(("localhost", port), timeout=5)
print(socket.gethostbyname("localhost"), c.recv(4).decode())
for name in ("example.com", "sandbox.invalid"):
    try:
        print("resolved", name, socket.gethostbyname(name))
    except OSError:
        print("unresolved", name)
`})
	want := "127.0.0.1 pong\nunresolved example.com\nunresolved sandbox.invalid\n"
	if r.Status != http.StatusOK || r.Body["stdout"] != want {
		t.Errorf("HTTP %d, stdout %q, want %q (stderr %q)", r.Status, r.Body["stdout"], want, r.Body["stderr"])
	}
}

// TestFilesInAndOut: a binary input file (base64) arrives byte for byte,
// and files the program writes come back base64 with their sizes, within
// the caps; a symlink the program plants out of the work dir is not
// followed.
func TestFilesInAndOut(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config})
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	r := d.Post(t, "/execute", map[string]any{
		"environment": "python",
		"code": `import hashlib, os
data = open("in/all.bin", "rb").read()
print(len(data), hashlib.sha256(data).hexdigest())
os.makedirs("out", exist_ok=True)
open("out/copy.bin", "wb").write(data[::-1])
open("out/note.txt", "w").write("done")
os.symlink("/etc/passwd", "out/passwd.txt")
open("ignored.bin", "wb").write(b"x")`,
		"files":        []map[string]string{{"name": "in/all.bin", "content": base64.StdEncoding.EncodeToString(all), "encoding": "base64"}},
		"return_files": []string{"out/*"},
	})
	sum := sha256.Sum256(all)
	if want := fmt.Sprintf("256 %x\n", sum); r.Status != http.StatusOK || r.Body["stdout"] != want {
		t.Fatalf("HTTP %d stdout %q, want %q (stderr %q)", r.Status, r.Body["stdout"], want, r.Body["stderr"])
	}
	files, _ := r.Body["files"].([]any)
	got := map[string]string{}
	for _, f := range files {
		m := f.(map[string]any)
		b, err := base64.StdEncoding.DecodeString(m["content"].(string))
		if err != nil || int(m["size"].(float64)) != len(b) {
			t.Errorf("file %v: bad base64 or size", m["name"])
		}
		got[m["name"].(string)] = string(b)
	}
	reversed := make([]byte, 256)
	for i := range reversed {
		reversed[i] = byte(255 - i)
	}
	if len(got) != 2 || got["out/copy.bin"] != string(reversed) || got["out/note.txt"] != "done" {
		t.Errorf("returned files %q: want out/copy.bin (the input reversed) and out/note.txt only, no symlink", got)
	}
	if r.Body["files_truncated"] != nil {
		t.Errorf("files_truncated %v for two small files", r.Body["files_truncated"])
	}
}

// TestLoweredLimits: limits a request lowers take effect in the program
// (memory, processes, CPU time, output), and raising one is refused.
func TestLoweredLimits(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config})
	run := func(code string, limits map[string]any) testdaemon.Response {
		t.Helper()
		return d.Post(t, "/execute", map[string]any{"environment": "python", "code": code, "limits": limits})
	}
	r := run("x = bytearray(64 << 20)\nprint('allocated')", map[string]any{"memory_mb": 32})
	if r.Status != http.StatusOK || r.Body["exit_code"] != 1.0 || !strings.Contains(fmt.Sprint(r.Body["stderr"]), "MemoryError") {
		t.Errorf("memory_mb 32, 64 MiB allocated: want exit 1 with MemoryError, got HTTP %d %v", r.Status, r.Body)
	}
	if r := run("x = bytearray(64 << 20)\nprint('allocated')", nil); r.Body["stdout"] != "allocated\n" {
		t.Errorf("without a lowered limit the same allocation must succeed: %v", r.Body)
	}
	r = run(`import os
failed = 0
for _ in range(20):
    try:
        if os.fork() == 0:
            import time; time.sleep(5); os._exit(0)
    except BlockingIOError:
        failed += 1
print("failed", failed > 0)`, map[string]any{"processes": 8})
	if r.Body["stdout"] != "failed True\n" {
		t.Errorf("processes 8, 20 forks: want some to fail, got %v", r.Body)
	}
	r = run("while True: pass", map[string]any{"cpu_time": 1})
	if r.Body["signal"] != "SIGXCPU" && r.Body["signal"] != "SIGKILL" || r.Body["timed_out"] != false {
		t.Errorf("cpu_time 1, a busy loop: want SIGXCPU (or SIGKILL) before the timeout, got %v", r.Body)
	}
	r = run("print('x' * 1000)", map[string]any{"output_bytes": 100})
	if out, _ := r.Body["stdout"].(string); len(out) != 100 || r.Body["truncated"].(map[string]any)["stdout"] != true {
		t.Errorf("output_bytes 100: stdout of %d bytes, truncated %v", len(out), r.Body["truncated"])
	}
	r = run("print(1)", map[string]any{"memory_mb": 1 << 20})
	if e, _ := r.Body["error"].(map[string]any); r.Status != http.StatusUnprocessableEntity || e["field"] != "limits.memory_mb" {
		t.Errorf("raising memory_mb: want 422 naming limits.memory_mb, got HTTP %d %s", r.Status, r.Raw)
	}
}

// TestCompileLimits: a compile stage's own limits. rust's compiler has
// a larger sandbox than its programs, which are held to their own
// memory; a request lowers the compiler's CPU time and memory.
func TestCompileLimits(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{
		Config: "rate_limit: {requests: 0}\npool: {min_idle: 1, max_size: 2}\n",
		Env:    []string{"WARMBOX_LANGUAGES=c,cpp,rust"},
	})
	run := func(env, code string, limits map[string]any) testdaemon.Response {
		t.Helper()
		body := map[string]any{"environment": env, "code": code}
		if limits != nil {
			body["limits"] = limits
		}
		return d.Post(t, "/execute", body)
	}
	envs := d.Get(t, "/environments").Body["details"].(map[string]any)
	rust := envs["rust"].(map[string]any)["limits"].(map[string]any)
	if rust["memory_mb"] != 256.0 || rust["compile_memory_mb"] != 512.0 {
		t.Fatalf("rust limits %v: want 256 MiB for programs, 512 for rustc", rust)
	}

	// A rust program cannot have the 512 MiB its compiler had: 300 MiB
	// fails to allocate (the sandbox's memory cgroup would allow it).
	r := run("rust", "fn main() { let v = vec![1u8; 300 << 20]; println!(\"{}\", v[v.len() - 1]); }", nil)
	if c, _ := r.Body["compile"].(map[string]any); c == nil || c["exit_code"] != 0.0 {
		t.Fatalf("rustc failed: HTTP %d %v", r.Status, r.Body)
	}
	if r.Body["stdout"] != "" || !strings.Contains(fmt.Sprint(r.Body["stderr"]), "memory allocation of 314572800 bytes failed") {
		t.Errorf("rust, 300 MiB: want the allocation to fail at the program's 256 MiB, got %v", r.Body)
	}
	if r := run("rust", "fn main() { let v = vec![1u8; 200 << 20]; println!(\"{}\", v[v.len() - 1]); }", nil); r.Body["stdout"] != "1\n" {
		t.Errorf("rust, 200 MiB: want it allocated, got %v", r.Body)
	}

	// compile_cpu_time: g++ evaluating a constant for minutes is stopped
	// after a CPU second (SIGXCPU, or SIGKILL at the same hard limit),
	// long before its compile_timeout.
	burn := "constexpr long f() { long s = 0; for (long i = 0; i < 200000; i++) for (long j = 0; j < 200000; j++) s += i ^ j; return s; }\n" +
		"constexpr long v = f();\nint main() { return v & 1; }\n"
	r = run("cpp", burn, map[string]any{"compile_cpu_time": 1, "compile_timeout": 20})
	c, _ := r.Body["compile"].(map[string]any)
	if r.Body["status"] != "error" || c == nil || c["timed_out"] != false || !strings.Contains(fmt.Sprint(c["stderr"]), "signal terminated program cc1plus") {
		t.Errorf("compile_cpu_time 1: want the compiler stopped by RLIMIT_CPU before its timeout, got %v", r.Body)
	}

	// compile_memory_mb: cc1 reading a million-element initializer runs
	// out of 32 MiB, and builds it with the language's memory.
	explode := "#define A 1,1,1,1,1,1,1,1,1,1\n#define B A,A,A,A,A,A,A,A,A,A\n#define C B,B,B,B,B,B,B,B,B,B\n" +
		"#define D C,C,C,C,C,C,C,C,C,C\n#define E D,D,D,D,D,D,D,D,D,D\n#define F E,E,E,E,E,E,E,E,E,E\n" +
		"int a[] = {F};\nint main(void) { return a[999999] - 1; }\n"
	r = run("c", explode, map[string]any{"compile_memory_mb": 32})
	c, _ = r.Body["compile"].(map[string]any)
	if r.Body["status"] != "error" || c == nil || !strings.Contains(fmt.Sprint(c["stderr"]), "memory exhausted") {
		t.Errorf("compile_memory_mb 32: want cc1 out of memory, got %v", r.Body)
	}
	if r := run("c", explode, nil); r.Body["status"] != "success" {
		t.Errorf("the same program with the language's compile memory: want it built and run, got %v", r.Body)
	}

	for _, tc := range []struct {
		env    string
		limits map[string]any
		field  string
	}{
		{"rust", map[string]any{"compile_memory_mb": 513}, "limits.compile_memory_mb"},
		{"c", map[string]any{"compile_timeout": 31}, "limits.compile_timeout"},
	} {
		r := run(tc.env, "x", tc.limits)
		if e, _ := r.Body["error"].(map[string]any); r.Status != http.StatusUnprocessableEntity || e["field"] != tc.field {
			t.Errorf("%s %v: want 422 naming %s, got HTTP %d %s", tc.env, tc.limits, tc.field, r.Status, r.Raw)
		}
	}
}

// TestPlotReturned: the python image's data packages work without a
// display, and a matplotlib plot comes back as a valid PNG. mpl_toolkits
// imports although images.sh removed matplotlib's nspkg .pth (a shim
// that cost every interpreter start a quarter of its CPU), and no .pth is
// left for site.py to run.
func TestPlotReturned(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config})
	r := d.Post(t, "/execute", map[string]any{
		"environment": "python",
		"timeout":     60,
		"code": `import os
import numpy as np, pandas as pd, scipy, sympy
import matplotlib
import matplotlib.pyplot as plt
from mpl_toolkits.mplot3d import Axes3D
import glob, site
pth = [p for d in site.getsitepackages() for p in glob.glob(d + "/*.pth")]
assert pth == [], pth
x = np.linspace(0, 2 * np.pi, 50)
df = pd.DataFrame({"x": x, "y": np.sin(x)})
os.makedirs("out", exist_ok=True)
df.plot(x="x", y="y", figsize=(4, 3))
plt.savefig("out/plot.png", dpi=50)
print(matplotlib.get_backend(), round(float(df.y.max()), 2), sympy.integrate(sympy.Symbol("t") ** 2))`,
		"return_files": []string{"out/*.png"},
	})
	if r.Status != http.StatusOK || r.Body["stdout"] != "agg 1.0 t**3/3\n" {
		t.Fatalf("HTTP %d stdout %q, want the Agg backend, 1.0 and t**3/3 (stderr %q)", r.Status, r.Body["stdout"], r.Body["stderr"])
	}
	files, _ := r.Body["files"].([]any)
	if len(files) != 1 {
		t.Fatalf("files %v, want out/plot.png", r.Body["files"])
	}
	b, err := base64.StdEncoding.DecodeString(files[0].(map[string]any)["content"].(string))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the returned plot is not a PNG: %v", err)
	}
	if size := img.Bounds().Size(); size.X != 200 || size.Y != 150 {
		t.Errorf("plot is %v pixels, want 200x150 (4x3 inches at 50 dpi)", size)
	}
}

// TestPreload: modules a language preloads are in sys.modules before the
// job imports them, /environments says so, and a job's output carries
// nothing of their import.
func TestPreload(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config + "languages: {python: {preload: [numpy, pandas]}}\n"})
	env := d.Get(t, "/environments").Body["details"].(map[string]any)["python"].(map[string]any)
	if fmt.Sprint(env["preload"]) != "[numpy pandas]" {
		t.Errorf("/environments preload = %v, want [numpy pandas]", env["preload"])
	}
	code := `import sys, time
ahead = [m for m in ("numpy", "pandas", "scipy") if m in sys.modules]
start = time.perf_counter()
import numpy, pandas
print(ahead, time.perf_counter() - start < 0.01, pandas.DataFrame({"a": numpy.arange(4)}).a.sum())`
	for range 3 { // the first job and the ones after a reset
		r := d.Post(t, "/execute", map[string]any{"environment": "python", "code": code})
		if r.Status != http.StatusOK || r.Body["stdout"] != "['numpy', 'pandas'] True 6\n" || r.Body["stderr"] != "" {
			t.Fatalf("HTTP %d stdout %q stderr %q: want numpy and pandas imported ahead (not scipy), at no cost, and no output of theirs",
				r.Status, r.Body["stdout"], r.Body["stderr"])
		}
	}
}
