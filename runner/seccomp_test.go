package runner

import (
	"errors"
	"os"
	"os/exec"
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
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	report("unix", err)
	if err == nil {
		unix.Close(fd)
	}
	var params [120]byte
	_, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params[0])), 0)
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
