package runner

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// A sandbox has no network: only the loopback interface, and no route to
// any other address. Docker gives that with network mode none, and the
// Kubernetes testbed with a loopback-only CNI, but a cluster whose CNI
// gives sandbox Pods an interface and leaves the rest to a NetworkPolicy
// (which not every CNI enforces) does not. The runner checks every time
// it starts (a prestart sandbox's PID 1, each exec-mode run and reset),
// and a sandbox that fails is refused: the create fails with the reason,
// and the pool reports it in /health, instead of running jobs on a
// network.

// netDevPath lists the network namespace's interfaces.
const netDevPath = "/proc/net/dev"

// probeAddr is an address no sandbox may reach: TEST-NET-1 (RFC 5737),
// never routed. Connecting a UDP socket sends nothing; it only looks the
// route up.
var probeAddr = [4]byte{192, 0, 2, 1}

// checkNoNetwork returns an error naming what makes the sandbox
// networked.
func checkNoNetwork() error {
	raw, err := os.ReadFile(netDevPath)
	if err != nil {
		return fmt.Errorf("network check: %w", err)
	}
	if extra := nonLoopback(string(raw)); len(extra) > 0 {
		return fmt.Errorf("network check: the sandbox has network interfaces besides lo (%s); it must have none (docs/SECURITY.md, promise 19)", strings.Join(extra, ", "))
	}
	if err := routeTo(probeAddr); err == nil {
		return fmt.Errorf("network check: the sandbox has a route to %d.%d.%d.%d; it must have none", probeAddr[0], probeAddr[1], probeAddr[2], probeAddr[3])
	} else if !errors.Is(err, unix.ENETUNREACH) && !errors.Is(err, unix.EHOSTUNREACH) { // gVisor says EHOSTUNREACH
		return fmt.Errorf("network check: route lookup: %w", err)
	}
	return nil
}

// nonLoopback returns the interfaces of a /proc/net/dev listing other
// than lo.
func nonLoopback(procNetDev string) []string {
	var out []string
	for _, line := range strings.Split(procNetDev, "\n") {
		name, _, ok := strings.Cut(line, ":")
		if !ok || strings.Contains(name, "|") { // the two header lines
			continue
		}
		if name = strings.TrimSpace(name); name != "lo" {
			out = append(out, name)
		}
	}
	return out
}

// routeTo connects a UDP socket to addr, which sends no packet: it fails
// with ENETUNREACH (EHOSTUNREACH under gVisor) when there is no route.
func routeTo(addr [4]byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrInet4{Port: 9, Addr: addr})
}
