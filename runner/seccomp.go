package runner

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The runner narrows the engine's seccomp profile for everything it
// starts, with a filter of its own that the job inherits (filters stack
// and cannot be removed). It denies what the engines here still allow:
//
//   - io_uring_setup, io_uring_enter, io_uring_register (EPERM): a large
//     kernel attack surface that Docker 20.10's default profile allows
//     (docs/SECURITY.md F1);
//   - socket(AF_VSOCK) (EAFNOSUPPORT): vsock is not network-namespaced, so
//     on a VM it reaches the hypervisor despite "no network" (F2);
//   - on x86-64, every syscall of another ABI (i386, x32) (ENOSYS): the
//     images hold 64-bit programs only, and compat entry points have
//     their own history of kernel bugs.
//
// It is the same on Docker and Kubernetes (whose RuntimeDefault profile is
// the container runtime's).

// seccomp_data offsets (linux/seccomp.h): nr, arch, then args[6] from 16;
// args[0]'s low 32 bits are at 16 on little-endian machines.
const (
	offNr    = 0
	offArch  = 4
	offArg0  = 16
	x32Bit   = 0x40000000
	afVsock  = 40
	retAllow = unix.SECCOMP_RET_ALLOW
)

func retErrno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

// seccompArch is the audit arch of the runner's own ABI.
func seccompArch() (uint32, bool) {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64, true
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64, true
	}
	return 0, false
}

// denyFilter builds the BPF program. Jumps are relative: jt/jf skip that
// many instructions.
func denyFilter(arch uint32) []unix.SockFilter {
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jeq := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: jt, Jf: jf, K: k}
	}
	ld := func(off uint32) unix.SockFilter { return stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off) }
	ret := func(k uint32) unix.SockFilter { return stmt(unix.BPF_RET|unix.BPF_K, k) }
	return []unix.SockFilter{
		/* 0 */ ld(offArch),
		/* 1 */ jeq(arch, 1, 0),
		/* 2 */ ret(retErrno(unix.ENOSYS)), // another ABI
		/* 3 */ ld(offNr),
		/* 4 */ {Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, Jt: 0, Jf: 1, K: x32Bit},
		/* 5 */ ret(retErrno(unix.ENOSYS)), // x32
		/* 6 */ jeq(unix.SYS_IO_URING_SETUP, 3, 0),
		/* 7 */ jeq(unix.SYS_IO_URING_ENTER, 2, 0),
		/* 8 */ jeq(unix.SYS_IO_URING_REGISTER, 1, 0),
		/* 9 */ jeq(unix.SYS_SOCKET, 1, 4),
		/* 10 */ ret(retErrno(unix.EPERM)), // io_uring_*
		/* 11 */ ld(offArg0),
		/* 12 */ jeq(afVsock, 0, 1),
		/* 13 */ ret(retErrno(unix.EAFNOSUPPORT)),
		/* 14 */ ret(retAllow),
	}
}

// installDenyFilter installs the filter on every thread of the runner
// (TSYNC), so that whatever thread starts the job, the job inherits it.
func installDenyFilter() error {
	arch, ok := seccompArch()
	if !ok {
		return fmt.Errorf("seccomp: no filter for %s", runtime.GOARCH)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_NO_NEW_PRIVS: %w", err)
	}
	filter := denyFilter(arch)
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return fmt.Errorf("seccomp filter: %w", errno)
	}
	runtime.KeepAlive(filter)
	return nil
}
