package httpapi

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/runner"
)

// compileFailed answers every job as a compiler that exited 1.
func compileFailed(context.Context, dispatch.Request) (dispatch.Outcome, error) {
	return dispatch.Outcome{Result: runner.Result{Compile: &runner.Stage{
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
		return dispatch.Outcome{Result: runner.Result{Compile: &runner.Stage{WallMs: 300}, Stdout: []byte("hi\n"), WallMs: 2}}, nil
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
		return dispatch.Outcome{Result: runner.Result{
			Files:          []runner.File{{Name: "out/plot.png", Content: []byte{0x89, 'P', 'N', 'G', 0, 0xff}}},
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
