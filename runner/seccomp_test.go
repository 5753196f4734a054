package runner

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompChildEnv makes the test binary, started again by
// TestDenyFilter, install the filter and report what each call returns:
// the filter cannot be removed, so it never runs in the test process.
const seccompChildEnv = "WARMBOX_SECCOMP_CHILD"

func init() {
	if os.Getenv(seccompChildEnv) != "1" {
		return
	}
	if err := installDenyFilter(); err != nil {
		println("install:", err.Error())
		os.Exit(3)
	}
	report := func(name string, err error) { println(name+":", errText(err)) }
	_, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM, 0)
	report("vsock", err)
	for _, c := range []struct {
		name               string
		family, typ, proto int
	}{
		{"unix", unix.AF_UNIX, unix.SOCK_STREAM, 0},
		{"inet", unix.AF_INET, unix.SOCK_DGRAM, 0},
		{"inet6", unix.AF_INET6, unix.SOCK_DGRAM, 0},
		{"netlink route", unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE},
		{"netlink generic", unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_GENERIC},
		{"netlink audit", unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT},
		{"alg", unix.AF_ALG, unix.SOCK_SEQPACKET, 0},
		{"packet", unix.AF_PACKET, unix.SOCK_DGRAM, 0},
		{"tipc", unix.AF_TIPC, unix.SOCK_RDM, 0},
	} {
		fd, err := unix.Socket(c.family, c.typ, c.proto)
		report(c.name, err)
		if err == nil {
			unix.Close(fd)
		}
	}
	// The kernel reads the family as an int: high bits in the 64-bit
	// argument do not smuggle AF_ALG past the filter.
	fd, _, errno := unix.RawSyscall(unix.SYS_SOCKET, 1<<32|unix.AF_ALG, unix.SOCK_SEQPACKET, 0)
	report("alg with high bits", errnoErr(errno))
	if errno == 0 {
		unix.Close(int(fd))
	}
	// Every other family is refused with EAFNOSUPPORT, whatever the type.
	var through []string
	for fam := range 64 {
		if slices.Contains(socketFamilies, uint32(fam)) {
			continue
		}
		for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_RAW, unix.SOCK_SEQPACKET} {
			fd, err := unix.Socket(fam, typ, 0)
			if err == nil {
				unix.Close(fd)
			}
			if !errors.Is(err, unix.EAFNOSUPPORT) {
				through = append(through, fmt.Sprintf("%d/%d:%s", fam, typ, errText(err)))
			}
		}
	}
	report("other families", errors.New(cmp.Or(strings.Join(through, " "), "all EAFNOSUPPORT")))
	var params [120]byte
	_, _, errno = unix.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params[0])), 0)
	report("io_uring_setup", errnoErr(errno))
	_, _, errno = unix.Syscall6(unix.SYS_IO_URING_ENTER, 0, 0, 0, 0, 0, 0)
	report("io_uring_enter", errnoErr(errno))
	// A child started now inherits the filter.
	out, err := exec.Command("sh", "-c", "echo child ran").CombinedOutput()
	report("exec "+strings.TrimSpace(string(out)), err)
	os.Exit(0)
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func errText(err error) string {
	var e unix.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &e):
		return unix.ErrnoName(e)
	}
	return err.Error()
}

func TestDenyFilter(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), seccompChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		"vsock: EAFNOSUPPORT\n",
		"unix: ok\n",
		"inet: ok\n",
		"netlink route: ok\n",
		"netlink generic: EPROTONOSUPPORT\n",
		"netlink audit: EPROTONOSUPPORT\n",
		"alg: EAFNOSUPPORT\n",
		"packet: EAFNOSUPPORT\n",
		"tipc: EAFNOSUPPORT\n",
		"alg with high bits: EAFNOSUPPORT\n",
		"other families: all EAFNOSUPPORT\n",
		"io_uring_setup: EPERM\n",
		"io_uring_enter: EPERM\n",
		"exec child ran: ok\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in the child's report:\n%s", want, got)
		}
	}
}

func TestDenyFilterJumps(t *testing.T) {
	// Every jump lands inside the program, and the last instruction
	// allows: a wrong offset would make the kernel refuse the filter or
	// deny everything.
	f := denyFilter(unix.AUDIT_ARCH_X86_64)
	for i, ins := range f {
		if ins.Code&0x07 == unix.BPF_JMP {
			for _, off := range []uint8{ins.Jt, ins.Jf} {
				if i+1+int(off) >= len(f) {
					t.Errorf("instruction %d jumps past the end", i)
				}
			}
		}
	}
	if last := f[len(f)-1]; last.Code != unix.BPF_RET|unix.BPF_K || last.K != unix.SECCOMP_RET_ALLOW {
		t.Errorf("last instruction %+v, want ret ALLOW", last)
	}
}
