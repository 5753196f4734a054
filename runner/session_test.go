package runner

import (
	"testing"
	"time"
)

// TestCellSinkMarkers: the end-of-cell marker is found even when it is
// split across writes, stripped, and what follows it reaches no cell.
func TestCellSinkMarkers(t *testing.T) {
	m := string(cellDoneMarker)
	for name, writes := range map[string][]string{
		"whole":          {"out\n" + m},
		"split":          {"out\n" + m[:3], m[3:]},
		"byte by byte":   splitBytes("out\n" + m),
		"then more":      {"out\n" + m + "late\n"},
		"nul in output":  {"o\x00ut\n" + m},
		"marker-like":    {"out\n\x00\x1ewarm", "box\n" + m},
		"output in runs": {"o", "u", "t\n", m},
	} {
		t.Run(name, func(t *testing.T) {
			var s cellSink
			out := newCapped(1024, nil)
			s.begin(out)
			for _, w := range writes {
				s.Write([]byte(w))
			}
			if !s.awaitMarker(time.Second) {
				t.Fatal("marker not seen")
			}
			want := map[string]string{"nul in output": "o\x00ut\n", "marker-like": "out\n\x00\x1ewarmbox\n"}[name]
			if want == "" {
				want = "out\n"
			}
			if got := string(out.Bytes()); got != want {
				t.Errorf("cell output %q, want %q", got, want)
			}
		})
	}
}

// TestCellSinkWithoutMarker: a cell that closed its stream sends no
// marker; awaitMarker gives up after its wait.
func TestCellSinkWithoutMarker(t *testing.T) {
	var s cellSink
	s.begin(newCapped(1024, nil))
	s.Write([]byte("partial"))
	if s.awaitMarker(50 * time.Millisecond) {
		t.Fatal("a marker was reported that never came")
	}
}

func splitBytes(s string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i : i+1]
	}
	return out
}
