package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	job := Job{
		Files: []File{
			{Name: "main.py", Content: []byte("import helper\n")},
			{Name: "lib/bin.dat", Content: []byte{0, 0xff, 0xc3, 0x28}},
		},
		Command: []string{"python3", "-u"},
		Entry:   "main.py",
		Args:    []string{"a", "b c"},
		Stdin:   []byte("in\x00put"),
		Env:     []string{"PATH=/usr/bin"},
		Limits:  Limits{TimeoutMs: 1000, OutputBytes: 10240},
	}
	res := Result{
		Stage: Stage{
			ExitCode: -1, Signal: "SIGKILL", TimedOut: true, Stdout: []byte("\x1b[31m\"}"),
			Stderr: []byte{0xed, 0xa0, 0x80}, StdoutTruncated: true, WallMs: 1000.5, CPUTimeMs: 3.25,
			MemoryPeakKB: 8048,
		},
	}
	for _, tc := range []struct {
		name     string
		in, into any
	}{
		{"job", &job, &Job{}},
		{"result", &res, &Result{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteFrame(&buf, tc.in); err != nil {
				t.Fatalf("WriteFrame: %v", err)
			}
			if err := ReadFrame(&buf, tc.into); err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			if !reflect.DeepEqual(tc.into, tc.in) {
				t.Errorf("round trip: got %+v, want %+v", tc.into, tc.in)
			}
			if buf.Len() != 0 {
				t.Errorf("ReadFrame left %d bytes unread, want 0", buf.Len())
			}
		})
	}
}

func TestReadFrameTwoFrames(t *testing.T) {
	var buf bytes.Buffer
	for i := range 2 {
		if err := WriteFrame(&buf, Result{Stage: Stage{ExitCode: i}}); err != nil {
			t.Fatal(err)
		}
	}
	for want := range 2 {
		var got Result
		if err := ReadFrame(&buf, &got); err != nil {
			t.Fatalf("frame %d: %v", want, err)
		}
		if got.ExitCode != want {
			t.Errorf("frame %d: got exit code %d, want %d", want, got.ExitCode, want)
		}
	}
	if err := ReadFrame(&buf, &Result{}); !errors.Is(err, io.EOF) {
		t.Errorf("after the last frame: got %v, want io.EOF", err)
	}
}

func header(n uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, n)
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"empty", nil, io.EOF},
		{"partial header", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"header only", header(10), io.ErrUnexpectedEOF},
		{"short body", append(header(10), `{"a":`...), io.ErrUnexpectedEOF},
		{"over max", header(MaxFrameBytes + 1), ErrFrameTooLarge},
		{"max uint32", header(^uint32(0)), ErrFrameTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ReadFrame(bytes.NewReader(tc.input), &Job{})
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReadFrameBadJSON(t *testing.T) {
	body := []byte(`{"files": 7}`)
	err := ReadFrame(bytes.NewReader(append(header(uint32(len(body))), body...)), &Job{})
	if err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %v, want a decode error", err)
	}
}

// A header that claims more than MaxFrameBytes must be refused before
// anything of that size is allocated.
func TestReadFrameOversizeDoesNotAllocate(t *testing.T) {
	in := header(^uint32(0))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		ReadFrame(bytes.NewReader(in), &Job{})
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("10 oversize headers allocated %d bytes, want < 1 MiB", got)
	}
}

func TestWriteFrameTooLarge(t *testing.T) {
	big := Job{Stdin: make([]byte, MaxFrameBytes)}
	var buf bytes.Buffer
	if err := WriteFrame(&buf, big); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("got %v, want ErrFrameTooLarge", err)
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes of a refused frame, want 0", buf.Len())
	}
}

func FuzzReadFrame(f *testing.F) {
	var ok bytes.Buffer
	WriteFrame(&ok, Job{Files: []File{{Name: "a", Content: []byte("x")}}, Command: []string{"sh"}, Entry: "a"})
	f.Add(ok.Bytes())
	f.Add([]byte{})
	f.Add(header(MaxFrameBytes + 1))
	f.Add(append(header(4), "null"...))
	f.Add(append(header(2), "{}"...))
	f.Fuzz(func(t *testing.T, data []byte) {
		var job Job
		if err := ReadFrame(bytes.NewReader(data), &job); err != nil {
			return
		}
		job.Validate() // must not panic either
		var buf bytes.Buffer
		if err := WriteFrame(&buf, job); err != nil {
			t.Fatalf("re-encode a decoded job: %v", err)
		}
		var again Job
		if err := ReadFrame(&buf, &again); err != nil {
			t.Fatalf("decode a re-encoded job: %v", err)
		}
	})
}

func TestResultStatus(t *testing.T) {
	cases := []struct {
		name string
		r    Result
		want string
	}{
		{"exit 0", Result{}, "success"},
		{"exit 3", Result{Stage: Stage{ExitCode: 3}}, "error"},
		{"signal", Result{Stage: Stage{ExitCode: -1, Signal: "SIGSEGV"}}, "error"},
		{"oom", Result{Stage: Stage{ExitCode: -1, Signal: "SIGKILL"}, OOMKilled: true}, "error"},
		{"timeout wins", Result{Stage: Stage{ExitCode: -1, Signal: "SIGKILL", TimedOut: true}}, "timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Status(); got != tc.want {
				t.Errorf("Status() = %q, want %q", got, tc.want)
			}
		})
	}
}
