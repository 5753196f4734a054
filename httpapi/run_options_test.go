package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/runner/wire"
)

// compileFailed answers every job as a compiler that exited 1.
func compileFailed(context.Context, dispatch.Request) (dispatch.Outcome, error) {
	return dispatch.Outcome{Result: wire.Result{Compile: &wire.Stage{
		ExitCode: 1, Stderr: []byte("main.c:1: error: expected ';'\n"), WallMs: 120, CPUTimeMs: 80,
	}}}, nil
}

func TestCompileFailureAnswer(t *testing.T) {
	a := newAPI(t)
	a.svc.run = compileFailed
	got := decode(t, a.post(`{"environment":"python","code":"x"}`))
	c, _ := got["compile"].(map[string]any)
	switch {
	case got["status"] != "error" || got["exit_code"] != nil || got["signal"] != nil || got["output"] != nil:
		t.Errorf("a failed compile must be status error with no exit code, signal or output: %v", got)
	case c == nil || c["exit_code"] != 1.0 || c["time"] != 0.12 || !strings.Contains(c["stderr"].(string), "expected ';'"):
		t.Errorf("compile stage %v", got["compile"])
	case got["error"] != "compilation failed (exit status 1)\nmain.c:1: error: expected ';'\n":
		t.Errorf("error %q", got["error"])
	}
}

func TestCompileSuccessAnswer(t *testing.T) {
	a := newAPI(t)
	a.svc.run = func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
		return dispatch.Outcome{Result: wire.Result{Compile: &wire.Stage{WallMs: 300}, Stage: wire.Stage{Stdout: []byte("hi\n"), WallMs: 2}}}, nil
	}
	got := decode(t, a.post(`{"environment":"python","code":"x"}`))
	if c, _ := got["compile"].(map[string]any); got["status"] != "success" || got["output"] != "hi\n" || c == nil || c["exit_code"] != 0.0 {
		t.Errorf("compiled and ran: %v", got)
	}
	plain := newAPI(t)
	if got := decode(t, plain.post(`{"environment":"python","code":"x"}`)); got["compile"] != nil {
		t.Errorf("an interpreted language's answer has a compile stage: %v", got["compile"])
	}
}

func TestPistonCompileStage(t *testing.T) {
	a := newPistonAPI(t)
	a.svc.run = compileFailed
	got := decode(t, a.piston(pistonBody("python", "*", "x")))
	c, _ := got["compile"].(map[string]any)
	run, _ := got["run"].(map[string]any)
	switch {
	case c == nil || c["code"] != 1.0 || c["status"] != "RE" || !strings.Contains(c["stderr"].(string), "expected ';'"):
		t.Errorf("compile stage %v", got["compile"])
	case run == nil || run["code"] != 1.0 || run["stderr"] != c["stderr"]:
		t.Errorf("run must repeat the failed compile stage: %v", got["run"])
	}
}

func TestBinaryFilesInAndOut(t *testing.T) {
	a := newAPI(t)
	var got dispatch.Request
	a.svc.run = func(_ context.Context, req dispatch.Request) (dispatch.Outcome, error) {
		got = req
		return dispatch.Outcome{Result: wire.Result{
			Files:          []wire.File{{Name: "out/plot.png", Content: []byte{0x89, 'P', 'N', 'G', 0, 0xff}}},
			FilesTruncated: true,
		}}, nil
	}
	w := a.post(`{"environment":"python","code":"x","files":[{"name":"data.bin","content":"AP8Q","encoding":"base64"},{"name":"notes.txt","content":"hé"}],"return_files":["out/*.png"]}`)
	resp := decode(t, w)
	if len(got.Files) != 2 || string(got.Files[0].Content) != "\x00\xff\x10" || string(got.Files[1].Content) != "hé" {
		t.Errorf("files reached the dispatcher as %q, want data.bin's bytes 00 ff 10 and notes.txt as text", got.Files)
	}
	if len(got.ReturnFiles) != 1 || got.ReturnFiles[0] != "out/*.png" {
		t.Errorf("return_files reached the dispatcher as %q", got.ReturnFiles)
	}
	files, _ := resp["files"].([]any)
	if len(files) != 1 || resp["files_truncated"] != true {
		t.Fatalf("answer files %v, files_truncated %v", resp["files"], resp["files_truncated"])
	}
	f := files[0].(map[string]any)
	if f["name"] != "out/plot.png" || f["size"] != 6.0 || f["encoding"] != "base64" || f["content"] != "iVBORwD/" {
		t.Errorf("returned file %v", f)
	}
	if plain := decode(t, newAPI(t).post(`{"environment":"python","code":"x"}`)); plain["files"] != nil || plain["files_truncated"] != nil {
		t.Errorf("an answer to a request without return_files has files: %v", plain)
	}
}

func TestLoweredLimits(t *testing.T) {
	a := newAPI(t)
	var got dispatch.Request
	a.svc.run = func(_ context.Context, req dispatch.Request) (dispatch.Outcome, error) {
		got = req
		return dispatch.Outcome{}, nil
	}
	if w := a.post(`{"environment":"python","code":"x","limits":{"memory_mb":64,"cpu_time":2,"processes":10,"output_bytes":100}}`); w.Code != 200 {
		t.Fatalf("HTTP %d: %s", w.Code, w.Body)
	}
	want := policy.Lowered{MemoryMB: 64, CPUTime: 2 * time.Second, Processes: 10, OutputBytes: 100}
	if got.Lowered != want {
		t.Errorf("lowered %+v, want %+v", got.Lowered, want)
	}
	lim := testLimits()
	for _, tc := range []struct{ body, field string }{
		{fmt.Sprintf(`{"memory_mb":%d}`, lim.MemoryMB+1), "limits.memory_mb"},
		{`{"memory_mb":8}`, "limits.memory_mb"},
		{`{"cpu_time":61}`, "limits.cpu_time"},
		{`{"cpu_time":-1}`, "limits.cpu_time"},
		{`{"cpu_time":9223372036854775807}`, "limits.cpu_time"},
		{fmt.Sprintf(`{"processes":%d}`, lim.Pids+1), "limits.processes"},
		{fmt.Sprintf(`{"output_bytes":%d}`, lim.OutputBytes+1), "limits.output_bytes"},
		{`{"memory":64}`, "limits"},
		{`{"memory_mb":"64"}`, "limits"},
		{`[64]`, "limits"},
	} {
		w := a.post(`{"environment":"python","code":"x","limits":` + tc.body + `}`)
		if w.Code != 422 {
			t.Errorf("limits %s: HTTP %d, want 422: %s", tc.body, w.Code, w.Body)
			continue
		}
		if e := decode(t, w)["error"].(map[string]any); e["field"] != tc.field {
			t.Errorf("limits %s: field %v, want %s (%v)", tc.body, e["field"], tc.field, e["message"])
		}
	}
}

// withCompiled adds a compiled language "c" (compile_memory_mb 512 over
// the program's testLimits memory) to a test API.
func withCompiled(a *testAPI) {
	lim := testLimits()
	lim.CompileMemoryMB = 512
	lim.CompileCPUTime = 20 * time.Second
	a.svc.langs = append(a.svc.langs, dispatch.Info{Language: dispatch.Language{
		Name: "c", Image: "warmbox/gcc:test", Handoff: "exec", Command: []string{"./a.out"}, File: "main.c",
		Compile: []string{"gcc", "-o", "a.out"}, Limits: lim,
	}, Version: "12.2.0"})
}

func TestLoweredCompileLimits(t *testing.T) {
	a := newAPI(t)
	withCompiled(a)
	var got dispatch.Request
	a.svc.run = func(_ context.Context, req dispatch.Request) (dispatch.Outcome, error) {
		got = req
		return dispatch.Outcome{}, nil
	}
	if w := a.post(`{"environment":"c","code":"x","limits":{"compile_timeout":5,"compile_memory_mb":300,"compile_cpu_time":3}}`); w.Code != 200 {
		t.Fatalf("HTTP %d: %s", w.Code, w.Body)
	}
	want := policy.Lowered{CompileTimeout: 5 * time.Second, CompileMemoryMB: 300, CompileCPUTime: 3 * time.Second}
	if got.Lowered != want {
		t.Errorf("lowered %+v, want %+v", got.Lowered, want)
	}
	for _, tc := range []struct{ env, body, field string }{
		{"c", `{"compile_timeout":31}`, "limits.compile_timeout"},
		{"c", `{"compile_timeout":-1}`, "limits.compile_timeout"},
		{"c", `{"compile_memory_mb":513}`, "limits.compile_memory_mb"},
		{"c", `{"compile_memory_mb":15}`, "limits.compile_memory_mb"},
		{"c", `{"compile_cpu_time":21}`, "limits.compile_cpu_time"},
		// The program's memory is still the language's memory_mb, not the
		// larger sandbox the compiler needs.
		{"c", fmt.Sprintf(`{"memory_mb":%d}`, testLimits().MemoryMB+1), "limits.memory_mb"},
		{"python", `{"compile_timeout":5}`, "limits.compile_timeout"},
		{"python", `{"compile_cpu_time":1}`, "limits.compile_cpu_time"},
	} {
		w := a.post(`{"environment":"` + tc.env + `","code":"x","limits":` + tc.body + `}`)
		if w.Code != 422 {
			t.Errorf("%s limits %s: HTTP %d, want 422: %s", tc.env, tc.body, w.Code, w.Body)
			continue
		}
		if e := decode(t, w)["error"].(map[string]any); e["field"] != tc.field {
			t.Errorf("%s limits %s: field %v, want %s (%v)", tc.env, tc.body, e["field"], tc.field, e["message"])
		}
	}
}

func TestPistonLoweredLimits(t *testing.T) {
	mib := float64(1 << 20)
	for _, tc := range []struct {
		name, lang, fields string
		want               policy.Lowered
	}{
		{"piston-client's defaults", "c", `,"compile_timeout":10000,"compile_memory_limit":-1,"run_memory_limit":-1`,
			policy.Lowered{CompileTimeout: 10 * time.Second}},
		{"everything lowered", "c", fmt.Sprintf(`,"compile_timeout":2500,"compile_cpu_time":1500,"compile_memory_limit":%.0f,"run_cpu_time":999,"run_memory_limit":%.0f`, 300*mib, 64*mib+1),
			policy.Lowered{CompileTimeout: 2500 * time.Millisecond, CompileCPUTime: 2 * time.Second, CompileMemoryMB: 300, CPUTime: time.Second, MemoryMB: 65}},
		{"compile limits of an interpreted language are checked, not applied", "python", `,"compile_timeout":5000,"compile_memory_limit":50000000,"run_memory_limit":50000000`,
			policy.Lowered{MemoryMB: 48}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newPistonAPI(t)
			withCompiled(a)
			w := a.piston(`{"language":"` + tc.lang + `","version":"*","files":[{"content":"x"}]` + tc.fields + `}`)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			if got := a.svc.calls()[0].Lowered; got != tc.want {
				t.Errorf("lowered %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ fields, want string }{
		{`,"compile_memory_limit":600000000`, "compile_memory_limit cannot exceed the configured limit of 536870912"},
		{`,"run_memory_limit":1e12`, "run_memory_limit cannot exceed the configured limit of 268435456"},
		{`,"run_memory_limit":1000`, "run_memory_limit must be at least 16777216 (16 MiB): below it no program starts"},
		{`,"compile_cpu_time":-5`, "compile_cpu_time must be non-negative"},
		{`,"compile_cpu_time":20001`, "compile_cpu_time cannot exceed the configured limit of 20000"},
		{`,"compile_timeout":30001`, "compile_timeout cannot exceed the configured limit of 30000"},
		{`,"run_cpu_time":60001`, "run_cpu_time cannot exceed the configured limit of 60000"},
		// v2.js's order: memory limits before timeouts.
		{`,"run_timeout":-1,"run_memory_limit":1e12`, "run_memory_limit cannot exceed the configured limit of 268435456"},
	} {
		a := newPistonAPI(t)
		withCompiled(a)
		w := a.piston(`{"language":"c","version":"*","files":[{"content":"x"}]` + tc.fields + `}`)
		if got := pistonMessage(t, w, http.StatusBadRequest); got != tc.want {
			t.Errorf("%s: message %q, want %q", tc.fields, got, tc.want)
		}
	}
}
