package bench

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// progressEvery is how often the progress line is redrawn.
const progressEvery = 250 * time.Millisecond

// showProgress redraws the phase's progress line on cfg.Progress until
// the returned stop is called; stop then writes the phase's final line.
func (p *phase) showProgress() (stop func()) {
	w := p.cfg.Progress
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	width := 0
	draw := func(final bool) {
		line := p.progressLine(final)
		pad := max(0, width-len(line))
		width = len(line)
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(w, "\r%s%s%s", line, strings.Repeat(" ", pad), end)
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				draw(true)
				return
			case <-t.C:
				draw(false)
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (p *phase) progressLine(final bool) string {
	el := time.Since(p.start)
	var b strings.Builder
	fmt.Fprintf(&b, "%-16s ", cmp.Or(p.label, p.scen.Name))
	switch {
	case final:
		fmt.Fprintf(&b, "done in %.1fs:", el.Seconds())
	case el < p.cfg.Warmup:
		fmt.Fprintf(&b, "warming up %.1f/%gs", el.Seconds(), p.cfg.Warmup.Seconds())
	case p.cfg.Requests > 0:
		fmt.Fprintf(&b, "measuring %d requests per target", p.cfg.Requests)
	default:
		fmt.Fprintf(&b, "measuring %.1f/%gs", (el - p.cfg.Warmup).Seconds(), p.cfg.Duration.Seconds())
	}
	for i, t := range p.targets {
		fmt.Fprintf(&b, "  %s %d ok", t.Name(), p.ok[i].Load())
	}
	fmt.Fprintf(&b, "  errors %d", p.failed.Load())
	return b.String()
}
