package runner

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"
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

// replies is a fake receive: it hands out frames in order, then blocks
// until ctx ends.
func replies(frames ...any) func(context.Context, *Reply) error {
	return func(ctx context.Context, r *Reply) error {
		if len(frames) == 0 {
			<-ctx.Done()
			return ctx.Err()
		}
		f := frames[0]
		frames = frames[1:]
		if err, ok := f.(error); ok {
			return err
		}
		*r = f.(Reply)
		return nil
	}
}

func TestReceiveResult(t *testing.T) {
	result := Reply{Kind: "result", Result: &Result{Stdout: []byte("hi\n")}}
	gone := errors.New("stream ended")
	tests := []struct {
		name    string
		receive func(context.Context, *Reply) error
		stdout  string
		noAck   bool
		errText string
	}{
		{name: "acknowledged", receive: replies(Reply{Kind: "accepted"}, result), stdout: "hi\n"},
		{name: "result without ack (a bad request)", receive: replies(result), stdout: "hi\n"},
		{name: "frozen sandbox: no ack", receive: replies(), noAck: true, errText: "within 2s"},
		{name: "dead sandbox: stream ends before the ack", receive: replies(gone), noAck: true, errText: "stream ended"},
		{name: "dies after the ack", receive: replies(Reply{Kind: "accepted"}, gone), errText: "stream ended"},
		{name: "wrong frame", receive: replies(Reply{Kind: "accepted"}, Reply{Kind: "reset"}), errText: `runner answered "reset"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				res, err := receiveResult(ctx, tc.receive)
				if got := errors.Is(err, ErrNoAck); got != tc.noAck {
					t.Errorf("ErrNoAck = %v, want %v (err %v)", got, tc.noAck, err)
				}
				if tc.errText != "" && (err == nil || !strings.Contains(err.Error(), tc.errText)) {
					t.Errorf("err = %v, want it to contain %q", err, tc.errText)
				}
				if tc.errText == "" && (err != nil || string(res.Stdout) != tc.stdout) {
					t.Errorf("got %+v, %v", res, err)
				}
			})
		})
	}
	// The caller's own deadline is not a missing ack.
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := receiveResult(ctx, replies()); errors.Is(err, ErrNoAck) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want the caller's deadline", err)
		}
	})
}
