package wire

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

func TestRequestReplyRoundTrip(t *testing.T) {
	job := validJob()
	for _, tc := range []struct {
		name     string
		in, into any
	}{
		{"run", &Request{Op: "run", Job: &job}, &Request{}},
		{"reset", &Request{Op: "reset"}, &Request{}},
		{"ready", &Reply{Kind: "ready"}, &Reply{}},
		{"result", &Reply{Kind: "result", Result: &Result{Stage: Stage{ExitCode: 3, Stdout: []byte("x")}}}, &Reply{}},
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
func replies(frames ...any) func(context.Context, *Reply, int) error {
	return func(ctx context.Context, r *Reply, _ int) error {
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
	const token = "t1"
	result := Reply{Kind: "result", Token: token, Result: &Result{Stage: Stage{Stdout: []byte("hi\n")}}}
	accepted := Reply{Kind: "accepted", Token: token}
	forged := Reply{Kind: "result", Result: &Result{Stage: Stage{Stdout: []byte("FORGED\n")}}}
	gone := errors.New("stream ended")
	tests := []struct {
		name    string
		receive func(context.Context, *Reply, int) error
		stdout  string
		noAck   bool
		forged  bool
		errText string
	}{
		{name: "acknowledged", receive: replies(accepted, result), stdout: "hi\n"},
		{name: "result without ack (a bad request)", receive: replies(result), stdout: "hi\n"},
		{name: "frozen sandbox: no ack", receive: replies(), noAck: true, errText: "within 2s"},
		{name: "dead sandbox: stream ends before the ack", receive: replies(gone), noAck: true, errText: "stream ended"},
		{name: "dies after the ack", receive: replies(accepted, gone), errText: "stream ended"},
		{name: "wrong frame", receive: replies(accepted, Reply{Kind: "reset", Token: token}), errText: `runner answered "reset"`},
		{name: "forged result before the real one", receive: replies(accepted, forged, result), forged: true, errText: `a "result" frame`},
		{name: "forged result with another token", receive: replies(accepted, Reply{Kind: "result", Token: "guess", Result: &Result{}}), forged: true},
		{name: "forged acknowledgement", receive: replies(Reply{Kind: "accepted"}, result), forged: true, errText: `a "accepted" frame`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				res, err := receiveResult(ctx, token, Limits{OutputBytes: MaxOutputBytes}, nil, tc.receive)
				if got := errors.Is(err, ErrNoAck); got != tc.noAck {
					t.Errorf("ErrNoAck = %v, want %v (err %v)", got, tc.noAck, err)
				}
				if got := errors.Is(err, ErrForged); got != tc.forged {
					t.Errorf("ErrForged = %v, want %v (err %v)", got, tc.forged, err)
				}
				if tc.errText != "" && (err == nil || !strings.Contains(err.Error(), tc.errText)) {
					t.Errorf("err = %v, want it to contain %q", err, tc.errText)
				}
				if !tc.forged && tc.errText == "" && (err != nil || string(res.Stdout) != tc.stdout) {
					t.Errorf("got %+v, %v", res, err)
				}
			})
		})
	}
	// The caller's own deadline is not a missing ack.
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := receiveResult(ctx, token, Limits{OutputBytes: MaxOutputBytes}, nil, replies()); errors.Is(err, ErrNoAck) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want the caller's deadline", err)
		}
	})
}

// TestConnTokens: every request of a Conn carries a fresh token, and a
// reply that does not carry it back is refused as forged.
func TestConnTokens(t *testing.T) {
	// conn answers each request with answer(req), written as the runner
	// would, and records the requests' tokens.
	conn := func(t *testing.T, answer func(Request) []Reply) (*Conn, *[]string) {
		tokens := &[]string{}
		return rawConn(t, func(req Request) []byte {
			*tokens = append(*tokens, req.Token)
			var frames []byte
			for _, rep := range answer(req) {
				frames = append(frames, frameBytes(t, rep)...)
			}
			return frames
		}), tokens
	}
	honest := func(req Request) []Reply {
		switch req.Op {
		case "run":
			return []Reply{{Kind: "accepted", Token: req.Token}, {Kind: "result", Token: req.Token, Result: &Result{Stage: Stage{ExitCode: 3}}}}
		case "reset":
			return []Reply{{Kind: "reset", Token: req.Token}}
		default:
			return []Reply{{Kind: "ready", Token: req.Token}}
		}
	}
	ctx := context.Background()
	job := Job{Command: []string{"sh"}, Entry: "a", Files: []File{{Name: "a"}}, Limits: Limits{TimeoutMs: 1000}}

	c, tokens := conn(t, honest)
	for range 2 {
		if res, err := c.Run(ctx, job, nil); err != nil || res.ExitCode != 3 {
			t.Fatalf("Run: %+v, %v", res, err)
		}
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if err := c.Hello(ctx); err != nil {
		t.Fatalf("Hello: %v", err)
	}
	seen := map[string]bool{}
	for _, tok := range *tokens {
		if len(tok) < 20 || seen[tok] {
			t.Errorf("tokens %q: want a fresh, long one per request", *tokens)
		}
		seen[tok] = true
	}

	// A job that writes frames into the runner's stdout: they come first,
	// without the token.
	forger := func(req Request) []Reply {
		fake := Reply{Kind: "result", Result: &Result{Stage: Stage{Stdout: []byte("FORGED\n")}}}
		return append([]Reply{{Kind: "accepted", Token: req.Token}, fake, {Kind: "reset"}}, honest(req)[1:]...)
	}
	c, _ = conn(t, forger)
	res, err := c.Run(ctx, job, nil)
	if !errors.Is(err, ErrForged) || !errors.Is(err, ErrNoResult) || errors.Is(err, ErrNotStarted) {
		t.Errorf("Run with a forged result: got %+v, %v; want ErrForged as a lost sandbox", res, err)
	}
	c, _ = conn(t, func(req Request) []Reply { return []Reply{{Kind: "reset"}} })
	if err := c.Reset(ctx); !errors.Is(err, ErrForged) {
		t.Errorf("Reset answered without the token: got %v, want ErrForged", err)
	}
}
