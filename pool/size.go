package pool

import (
	"math"
	"time"
)

// Demand estimation.
const (
	// arrivalTau is the time constant of the smoothed arrival rate: a
	// step in demand shows 63% after arrivalTau, 95% after 3*arrivalTau.
	arrivalTau = 20 * time.Second
	// attackTau is the time constant of a second, fast estimate: the
	// rate the pool sizes for is the larger of the two, so it follows a
	// rise in demand within seconds (a reused pool must grow before its
	// callers' short max_wait runs out) and a fall only slowly.
	attackTau = 2 * time.Second
	// quietRate is the arrival rate below which demand reads as none
	// (fewer than one Acquire a minute), so that the target returns to
	// MinIdle instead of lingering on an exponential tail.
	quietRate = 1.0 / 60
	// smoothWeight: each successful create (or reset) moves the smoothed
	// create (or reset) time 1/smoothWeight of the way to its duration.
	smoothWeight = 4
)

// noteArrivalLocked counts one Acquire call at now in the smoothed rate: an
// exponentially decaying count of arrivals divided by arrivalTau, whose
// expectation is the arrival rate once demand has held for a few
// arrivalTau.
func (p *Pool[S]) noteArrivalLocked(now time.Time) {
	slow, fast := p.decayedRatesLocked(now)
	p.rate = slow + 1/arrivalTau.Seconds()
	p.rateFast = fast + 1/attackTau.Seconds()
	p.rateAt = now
}

// decayedRatesLocked returns the slow and the fast smoothed rates as of
// now, unfloored.
func (p *Pool[S]) decayedRatesLocked(now time.Time) (slow, fast float64) {
	if p.rateAt.IsZero() {
		return 0, 0
	}
	dt := max(0, now.Sub(p.rateAt).Seconds()) // monotonic
	return p.rate * math.Exp(-dt/arrivalTau.Seconds()), p.rateFast * math.Exp(-dt/attackTau.Seconds())
}

// decayedRateLocked returns the rate the pool sizes for as of now, the
// larger of the two estimates, unfloored.
func (p *Pool[S]) decayedRateLocked(now time.Time) float64 {
	return max(p.decayedRatesLocked(now))
}

// arrivalRateLocked returns the smoothed Acquire calls per second as of
// now, 0 below quietRate.
func (p *Pool[S]) arrivalRateLocked(now time.Time) float64 {
	r := p.decayedRateLocked(now)
	if r < quietRate {
		return 0
	}
	return r
}

// noteCreateTimeLocked adds a successful create's duration to the smoothed
// create time; the first one sets it.
func (p *Pool[S]) noteCreateTimeLocked(d time.Duration) {
	smooth(&p.createTime, d)
}

// noteResetTimeLocked records a successful reset's duration, smoothed
// like the create time.
func (p *Pool[S]) noteResetTimeLocked(d time.Duration) {
	smooth(&p.resetTime, d)
}

func smooth(avg *time.Duration, d time.Duration) {
	if *avg == 0 {
		*avg = max(d, 1)
		return
	}
	*avg += (d - *avg) / smoothWeight
}

// turnaroundLocked is how long a sandbox is away between two jobs on
// average: a create per job in single use; with reuse a reset per job
// and a create shared by MaxUses jobs (before the first reset, the
// create time stands in for it).
func (p *Pool[S]) turnaroundLocked() time.Duration {
	if p.cfg.MaxUses == 1 || p.resetTime == 0 {
		return p.createTime
	}
	return p.resetTime + p.createTime/time.Duration(p.cfg.MaxUses)
}

// targetLocked is the number of idle sandboxes (counting creates in flight)
// the maintainer aims for: by Little's law, arrival rate x create time is
// the number of replacements in flight at steady demand, and headroom
// covers bursts on top. The result is clamped to [MinIdle, MaxSize].
func (p *Pool[S]) targetLocked(now time.Time) int {
	if !p.cfg.Autosize {
		return p.cfg.MinIdle
	}
	x := p.arrivalRateLocked(now) * p.turnaroundLocked().Seconds() * p.cfg.Headroom
	if x >= float64(p.cfg.MaxSize) {
		return p.cfg.MaxSize
	}
	return max(p.cfg.MinIdle, int(math.Ceil(x)))
}

// needLocked is the number of idle-budget slots the pool's state needs:
// idle sandboxes and creates in flight beyond MinIdle and the waiters.
func (p *Pool[S]) needLocked() int {
	return max(0, len(p.idle)+p.creating-p.cfg.MinIdle-len(p.waiters))
}

// settleSlotsLocked brings the held slots to what the state needs: it gives
// back the slots no longer needed and, after a waiter left while creates
// were in flight, tries to cover the new need. Call it after any change to
// idle, creating or waiters. A need left uncovered is settled when the
// create finishes (putLocked).
func (p *Pool[S]) settleSlotsLocked() {
	if p.closed {
		return
	}
	switch need := p.needLocked(); {
	case p.slots > need:
		p.host.releaseIdle(p.member, p.slots-need)
		p.slots = need
	case p.slots < need:
		p.slots += p.host.acquireIdle(p.member, need-p.slots)
	}
}

// idleFitsLocked reports whether one more idle sandbox fits: it is within
// MinIdle, or the pool holds or obtains a budget slot for it.
func (p *Pool[S]) idleFitsLocked() bool {
	if len(p.idle) < p.cfg.MinIdle {
		return true
	}
	need := len(p.idle) + 1 + p.creating - p.cfg.MinIdle - len(p.waiters)
	if short := need - p.slots; short > 0 {
		p.slots += p.host.acquireIdle(p.member, short)
	}
	return need <= p.slots
}

// budgetCreatesLocked trims n planned creates to those the idle budget
// allows, acquiring the slots they need, and returns the number allowed.
// Creates up to MinIdle plus the waiters need no slot.
func (p *Pool[S]) budgetCreatesLocked(n int) int {
	need := len(p.idle) + p.creating + n - p.cfg.MinIdle - len(p.waiters)
	short := need - p.slots
	if short <= 0 {
		return n
	}
	got := p.host.acquireIdle(p.member, short)
	p.slots += got
	return max(0, n-(short-got))
}

// shedLocked retires at most one surplus idle sandbox per window of at
// least maintainInterval, never going below MinIdle: the oldest, when more
// than the target stayed idle through every window of the last shedDelay
// (demand fell; a reused sandbox coming back while its replacement was
// created does not count, as the next Acquire takes it), or at once when
// the pool holds more than its fair share of the idle budget while another
// pool waits for its own. The target it measures a surplus against is the
// highest of the last peakHold (peakTargetLocked). It returns the retired
// sandbox or nil.
func (p *Pool[S]) shedLocked(now time.Time, target int) *item[S] {
	peak := p.peakTargetLocked(now, target)
	if now.Sub(p.shedWindow) < maintainInterval {
		return nil
	}
	low := min(p.idleLow, len(p.idle))
	p.shedWindow = now
	defer func() { p.idleLow = len(p.idle) }() // the next window starts
	switch {
	case low <= peak:
		p.surplusSince = time.Time{}
	case p.surplusSince.IsZero():
		p.surplusSince = now
	}
	fell := !p.surplusSince.IsZero() && now.Sub(p.surplusSince) >= shedDelay
	if len(p.idle) <= p.cfg.MinIdle || (!fell && !p.host.overShare(p.member)) {
		return nil
	}
	it := p.idle[0]
	p.idle[0] = nil
	p.idle = p.idle[1:]
	p.retireLocked(it)
	return it
}

// peakTargetLocked notes target at now and returns the highest target
// seen in the last peakHold or so: a peak is held until a higher or equal
// target replaces it or it is peakHold old, then the current target
// starts the next one.
func (p *Pool[S]) peakTargetLocked(now time.Time, target int) int {
	if target >= p.targetPeak || now.Sub(p.targetPeakAt) >= peakHold {
		p.targetPeak, p.targetPeakAt = target, now
	}
	return p.targetPeak
}
