package runner

import (
	"slices"
	"strings"
	"testing"

	"github.com/warmbox/warmbox/runner/wire"
)

func TestNonLoopback(t *testing.T) {
	const header = "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
	for _, c := range []struct {
		name, listing string
		want          []string
	}{
		{"loopback only", header + "    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n", nil},
		{"eth0 too", header + "    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n" +
			"  eth0: 1296      16    0    0    0     0          0         0      656       8    0    0    0     0       0          0\n", []string{"eth0"}},
		{"no lo, two others", header + "  eth0: 0 0\nwlan0: 0 0\n", []string{"eth0", "wlan0"}},
	} {
		if got := nonLoopback(c.listing); !slices.Equal(got, c.want) {
			t.Errorf("%s: nonLoopback = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestNetworkedSandboxRefused runs the runner in a container on Docker's
// bridge network, which gives it eth0 and a default route: it refuses
// to run the job and says why. (The daemon never creates such a
// sandbox; a Kubernetes CNI could.) Connecting a UDP socket sends
// nothing, so no packet leaves.
func TestNetworkedSandboxRefused(t *testing.T) {
	requireDocker(t)
	args := append([]string{"run", "--rm", "-i"}, sandboxArgs(t, containerName(t), "0:0")...)
	i := slices.Index(args, "none")
	if i < 1 || args[i-1] != "--network" {
		t.Fatalf("sandboxArgs changed: no --network none in %q", args)
	}
	args[i] = "bridge"
	args = append(append(args, imagePython), wire.RunCommand(testRunnerUID, testRunnerUID+1)...)
	o := invoke(t, frame(t, newJob("python", "print('ran')")), args...)
	if !o.framed || !strings.Contains(o.res.Error, "network interfaces besides lo (eth0)") || len(o.res.Stdout) != 0 {
		t.Fatalf("on a network: framed %v, error %q, stdout %q, exit %d; want a refusal naming eth0\nstderr: %s",
			o.framed, o.res.Error, o.res.Stdout, o.exit, o.stderr)
	}
	// The same runner on network none runs it.
	if res := mustResult(t, runFresh(t, imagePython, newJob("python", "print('ran')"))); string(res.Stdout) != "ran\n" {
		t.Fatalf("on network none: %+v", res)
	}
}
