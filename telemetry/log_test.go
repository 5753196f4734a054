package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

func TestLoggerAddsTraceIDs(t *testing.T) {
	tests := []struct {
		name     string
		ctx      context.Context
		wantIDs  bool
		withAttr bool
	}{
		{name: "span in ctx", ctx: sampledCtx(t), wantIDs: true},
		{name: "span in ctx, logger.With", ctx: sampledCtx(t), wantIDs: true, withAttr: true},
		{name: "no span", ctx: context.Background()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := NewLogger(&buf, "debug", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.withAttr {
				log = log.With("pool", "python")
			}
			log.InfoContext(tt.ctx, "execution", "language", "python")
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("log line is not JSON: %v: %s", err, buf.String())
			}
			if rec["msg"] != "execution" || rec["language"] != "python" {
				t.Errorf("got %v, want msg and language kept", rec)
			}
			gotTrace, hasTrace := rec["trace_id"]
			gotSpan, hasSpan := rec["span_id"]
			if !tt.wantIDs {
				if hasTrace || hasSpan {
					t.Errorf("got trace ids %v/%v without a span", gotTrace, gotSpan)
				}
				return
			}
			if gotTrace != testTraceID || gotSpan != "00f067aa0ba902b7" {
				t.Errorf("got trace_id=%v span_id=%v, want %s/00f067aa0ba902b7", gotTrace, gotSpan, testTraceID)
			}
			if tt.withAttr && rec["pool"] != "python" {
				t.Errorf("got pool=%v, want the With attribute kept", rec["pool"])
			}
		})
	}
}

// A caller that logs trace_id itself (httpapi's execution line) gets it
// once, not twice in the same JSON object.
func TestLoggerKeepsCallersTraceID(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "info", nil)
	if err != nil {
		t.Fatal(err)
	}
	log.InfoContext(sampledCtx(t), "execution", "trace_id", testTraceID)
	dec := json.NewDecoder(&buf)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("log line is not a JSON object: %v %v", tok, err)
	}
	seen := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		seen[tok.(string)]++
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	if seen["trace_id"] != 1 || seen["span_id"] != 1 {
		t.Errorf("got trace_id %d times and span_id %d times, want once each", seen["trace_id"], seen["span_id"])
	}
}

func TestLoggerLevel(t *testing.T) {
	tests := []struct {
		level     string
		wantDebug bool
		wantInfo  bool
		wantErr   bool
	}{
		{level: "", wantInfo: true},
		{level: "debug", wantDebug: true, wantInfo: true},
		{level: "INFO", wantInfo: true},
		{level: "warn"},
		{level: "error"},
		{level: "loud", wantErr: true},
	}
	for _, tt := range tests {
		t.Run("level="+tt.level, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := NewLogger(&buf, tt.level, nil)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("NewLogger(%q): got no error", tt.level)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if got := log.Enabled(ctx, -4); got != tt.wantDebug {
				t.Errorf("debug enabled = %v, want %v", got, tt.wantDebug)
			}
			if got := log.Enabled(ctx, 0); got != tt.wantInfo {
				t.Errorf("info enabled = %v, want %v", got, tt.wantInfo)
			}
		})
	}
}
