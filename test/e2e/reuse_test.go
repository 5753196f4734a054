package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/apisuite"
	"github.com/warmbox/warmbox/internal/testdaemon"
)

// TestReuseSeesNothingOfThePreviousJob: with max_uses > 1 a sandbox is
// reset between jobs; a job must see nothing of the one before it.
func TestReuseSeesNothingOfThePreviousJob(t *testing.T) {
	for _, mode := range []string{"prestart", "exec"} {
		t.Run(mode, func(t *testing.T) {
			d := testdaemon.Start(t, testdaemon.Options{Config: fmt.Sprintf(`
rate_limit: {requests: 0}
pool: {min_idle: 1, max_size: 1, max_uses: 5, autosize: false}
languages: {python: {handoff: %s}, node: {enabled: false}}
`, mode)})
			plant := `mkdir -p /tmp/.hidden/deep && echo secret > /tmp/.hidden/deep/.f
mkdir /tmp/locked && chmod 000 /tmp/locked
echo secret > /dev/shm/.marker
setsid sleep 987651 </dev/null >/dev/null 2>&1 &
( setsid bash -c 'sleep 987652' </dev/null >/dev/null 2>&1 & ) &
echo planted`
			before := testdaemon.ContainerIDs(t, d.Scope)
			r := d.Post(t, "/execute", apisuite.Req("bash", plant))
			if r.Status != 200 || r.Body["stdout"] != "planted\n" {
				t.Fatalf("plant: HTTP %d %s", r.Status, r.Raw)
			}
			probe := `for p in /proc/[0-9]*; do c=$(tr '\0' ' ' <$p/cmdline 2>/dev/null); case "$c" in *9876*) echo "PROC $c";; esac; done
ls -A /tmp /dev/shm
echo PROBE_END`
			deadline := time.Now().Add(20 * time.Second)
			for {
				r = d.Post(t, "/execute", apisuite.Req("bash", probe))
				if r.Status == 200 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("probe: HTTP %d %s", r.Status, r.Raw)
				}
				time.Sleep(200 * time.Millisecond)
			}
			out := fmt.Sprint(r.Body["stdout"])
			want := "/dev/shm:\n\n/tmp:\nmain.sh\nPROBE_END\n"
			if !strings.HasSuffix(out, "PROBE_END\n") || strings.Contains(out, "PROC") || strings.Contains(out, "hidden") ||
				strings.Contains(out, "locked") || strings.Contains(out, "marker") {
				t.Errorf("the next job sees the previous one's leftovers:\n%s\nwant only:\n%s", out, want)
			}
			after := testdaemon.ContainerIDs(t, d.Scope)
			bashBefore, bashAfter := intersect(before, after), len(after)
			t.Logf("sandboxes before %d, after %d, kept %d (the bash sandbox is reused)", len(before), bashAfter, len(bashBefore))
			if len(intersect(before, after)) != len(before) {
				t.Errorf("sandboxes were replaced: before %v after %v; reuse mode should keep them", before, after)
			}
		})
	}
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		for _, y := range b {
			if x == y {
				out = append(out, x)
			}
		}
	}
	return out
}
