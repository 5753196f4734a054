package telemetry

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warmbox/warmbox/pool"
)

// destroyReasons are exported at zero before their first destroy, so that
// rate() has a series to start from.
var destroyReasons = []pool.DestroyReason{
	pool.ReasonUsed, pool.ReasonResetFailed, pool.ReasonExpired,
	pool.ReasonDied, pool.ReasonUnhealthy, pool.ReasonShutdown, pool.ReasonSurplus,
}

// poolCollector turns pool.Stats snapshots into metrics at scrape time, in
// the manner of client_golang's dbstats collector: the pool keeps counters,
// the collector only reads them.
type poolCollector struct {
	stats func() []pool.Stats
	now   func() time.Time

	sandboxes       *prometheus.Desc
	waiters         *prometheus.Desc
	idleTarget      *prometheus.Desc
	minIdle         *prometheus.Desc
	maxSize         *prometheus.Desc
	arrivalRate     *prometheus.Desc
	createEstimate  *prometheus.Desc
	degraded        *prometheus.Desc
	backoff         *prometheus.Desc
	acquired        *prometheus.Desc
	acquireTimeouts *prometheus.Desc
	created         *prometheus.Desc
	createFailures  *prometheus.Desc
	destroyed       *prometheus.Desc
}

func newPoolCollector(stats func() []pool.Stats) *poolCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "pool", name), help,
			append([]string{"language"}, labels...), nil)
	}
	return &poolCollector{
		stats: stats,
		now:   time.Now,
		sandboxes: desc("sandboxes",
			"Sandboxes of a language's pool by state: idle (warm, ready), busy (leased or being reset), creating, destroying.", "state"),
		waiters: desc("waiters",
			"Requests waiting for a sandbox of the language."),
		idleTarget: desc("idle_target",
			"Live idle target: sandboxes the pool keeps idle or creating besides the waiters (min_idle .. max_size)."),
		minIdle: desc("min_idle",
			"Configured minimum of idle sandboxes."),
		maxSize: desc("max_size",
			"Maximum idle+busy+creating sandboxes of the pool."),
		arrivalRate: desc("arrival_rate",
			"The pool's smoothed estimate of Acquire calls per second, which sizes the idle target (0 below one a minute)."),
		createEstimate: desc("create_estimate_seconds",
			"The pool's smoothed duration of a successful create, which sizes the idle target (0 before the first)."),
		degraded: desc("degraded",
			"1 while sandbox creation keeps failing and the pool backs off, else 0."),
		backoff: desc("create_backoff_seconds",
			"Seconds until the pool may try creating a sandbox again after failures (0 when not backing off)."),
		acquired: desc("acquisitions_total",
			"Sandboxes handed out to requests."),
		acquireTimeouts: desc("acquire_timeouts_total",
			"Acquire calls that got no sandbox: the request's deadline passed first, or too many were waiting."),
		created: desc("sandboxes_created_total",
			"Sandboxes created successfully."),
		createFailures: desc("sandbox_create_failures_total",
			"Failed sandbox create attempts."),
		destroyed: desc("sandboxes_destroyed_total",
			"Finished sandbox destroy attempts, by reason (used, reset_failed, expired, died, unhealthy, shutdown).", "reason"),
	}
}

// Describe sends every descriptor.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.sandboxes, c.waiters, c.idleTarget, c.minIdle, c.maxSize, c.arrivalRate, c.createEstimate, c.degraded, c.backoff,
		c.acquired, c.acquireTimeouts, c.created, c.createFailures, c.destroyed,
	} {
		ch <- d
	}
}

// Collect snapshots every pool.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	if c.stats == nil {
		return
	}
	now := c.now()
	for _, st := range c.stats() {
		lang := st.Name
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{lang}, labels...)...)
		}
		counter := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{lang}, labels...)...)
		}
		gauge(c.sandboxes, float64(st.Idle), "idle")
		gauge(c.sandboxes, float64(st.Busy), "busy")
		gauge(c.sandboxes, float64(st.Creating), "creating")
		gauge(c.sandboxes, float64(st.Destroying), "destroying")
		gauge(c.waiters, float64(st.Waiting))
		gauge(c.idleTarget, float64(st.Target))
		gauge(c.minIdle, float64(st.MinIdle))
		gauge(c.maxSize, float64(st.MaxSize))
		gauge(c.arrivalRate, st.ArrivalRate)
		gauge(c.createEstimate, st.CreateTime.Seconds())
		gauge(c.degraded, boolFloat(st.Degraded))
		gauge(c.backoff, max(0, st.BackoffUntil.Sub(now).Seconds()))
		counter(c.acquired, st.Acquired)
		counter(c.acquireTimeouts, st.AcquireTimeouts)
		counter(c.created, st.Created)
		counter(c.createFailures, st.CreateFailures)
		for _, r := range destroyReasons {
			counter(c.destroyed, st.Destroyed[r], string(r))
		}
		var other []string
		for r := range st.Destroyed {
			if !slices.Contains(destroyReasons, r) {
				other = append(other, string(r))
			}
		}
		slices.Sort(other)
		for _, r := range other {
			counter(c.destroyed, st.Destroyed[pool.DestroyReason(r)], r)
		}
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
