package runner

import (
	"bytes"
	"reflect"
	"testing"
)

// serve itself changes the whole process (harden), so it runs in
// containers (container_serve_test.go); its frames are tested here.

func TestRequestReplyRoundTrip(t *testing.T) {
	job := validJob()
	for _, tc := range []struct {
		name     string
		in, into any
	}{
		{"run", &Request{Op: "run", Job: &job}, &Request{}},
		{"reset", &Request{Op: "reset"}, &Request{}},
		{"ready", &Reply{Kind: "ready"}, &Reply{}},
		{"result", &Reply{Kind: "result", Result: &Result{ExitCode: 3, Stdout: []byte("x")}}, &Reply{}},
		{"reset failed", &Reply{Kind: "reset", Error: "reset: /tmp not empty: x"}, &Reply{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteFrame(&buf, tc.in); err != nil {
				t.Fatal(err)
			}
			if err := ReadFrame(&buf, tc.into); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tc.into, tc.in) {
				t.Errorf("got %+v, want %+v", tc.into, tc.in)
			}
		})
	}
}

func TestWriteReplyTooLarge(t *testing.T) {
	var buf bytes.Buffer
	big := Reply{Kind: "result", Result: &Result{Stdout: make([]byte, MaxFrameBytes)}}
	if err := writeReply(&buf, big, t.Logf); err != nil {
		t.Fatal(err)
	}
	var got Reply
	if err := ReadFrame(&buf, &got); err != nil {
		t.Fatal(err)
	}
	if got.Kind != "result" || got.Result == nil || got.Result.Error != "result frame too large" {
		t.Errorf("got %+v, want a result with the error", got)
	}
}

func FuzzReadRequest(f *testing.F) {
	var ok bytes.Buffer
	job := Job{Files: []File{{Name: "a", Content: []byte("x")}}, Command: []string{"sh"}, Entry: "a"}
	WriteFrame(&ok, Request{Op: "run", Job: &job})
	f.Add(ok.Bytes())
	f.Add(append(header(16), `{"op":"reset"}  `...))
	f.Add(append(header(4), "null"...))
	f.Add(append(header(22), `{"op":"run","job":nil}`...))
	f.Fuzz(func(t *testing.T, data []byte) {
		var req Request
		if err := ReadFrame(bytes.NewReader(data), &req); err != nil {
			return
		}
		if req.Job != nil {
			req.Job.Validate() // must not panic
		}
	})
}
