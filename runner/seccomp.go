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
//   - socket() of any address family but AF_UNIX, AF_INET, AF_INET6 and
//     AF_NETLINK (EAFNOSUPPORT): the others (AF_ALG, AF_TIPC, AF_RDS,
//     AF_CAN, AF_PACKET, AF_XDP, ...) only reach kernel code no program
//     here needs, and AF_VSOCK is not network-namespaced, so on a VM it
//     reaches the hypervisor despite "no network" (F2, F8);
//   - AF_NETLINK sockets of any protocol but NETLINK_ROUTE
//     (EPROTONOSUPPORT): route is what the C library's interface and
//     address look-ups use; generic, audit, netfilter, xfrm, uevent and
//     the rest are kernel interfaces a job has no use for (F8);
//   - on x86-64, every syscall of another ABI (i386, x32) (ENOSYS): the
//     images hold 64-bit programs only, and compat entry points have
//     their own history of kernel bugs.
//
// It is the same on Docker and Kubernetes (whose RuntimeDefault profile is
// the container runtime's). socketpair() needs no rule: the kernel
// supports it for AF_UNIX only.

// seccomp_data offsets (linux/seccomp.h): nr, arch, then args[6] from 16,
// 8 bytes each; an argument's low 32 bits come first on little-endian
// machines, and socket() reads its int arguments from them alone.
const (
	offNr    = 0
	offArch  = 4
	offArg0  = 16
	offArg2  = 32
	x32Bit   = 0x40000000
	retAllow = unix.SECCOMP_RET_ALLOW
)

// socketFamilies are the address families a job may open sockets of.
var socketFamilies = []uint32{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK}

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

// bpfProgram assembles a classic BPF program whose jumps name labels;
// BPF jumps only forward, by a relative offset that program works out.
type bpfProgram struct {
	ins    []unix.SockFilter
	labels map[string]int
	fixups []bpfFixup
}

type bpfFixup struct {
	at     int
	jt, jf string // "" falls through
}

func (p *bpfProgram) stmt(code uint16, k uint32) {
	p.ins = append(p.ins, unix.SockFilter{Code: code, K: k})
}

func (p *bpfProgram) load(off uint32) { p.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off) }
func (p *bpfProgram) ret(k uint32)    { p.stmt(unix.BPF_RET|unix.BPF_K, k) }

// jump compares the accumulator with k (op: BPF_JEQ, BPF_JGE) and goes
// to label jt when true, jf when false.
func (p *bpfProgram) jump(op uint16, k uint32, jt, jf string) {
	p.fixups = append(p.fixups, bpfFixup{at: len(p.ins), jt: jt, jf: jf})
	p.stmt(unix.BPF_JMP|op|unix.BPF_K, k)
}

func (p *bpfProgram) label(name string) {
	if p.labels == nil {
		p.labels = map[string]int{}
	}
	p.labels[name] = len(p.ins)
}

// assemble resolves the jumps. It panics on a label that is missing,
// behind the jump, or out of a jump's reach: the program is fixed, so
// that is a bug the tests catch.
func (p *bpfProgram) assemble() []unix.SockFilter {
	off := func(at int, label string) uint8 {
		if label == "" {
			return 0
		}
		to, ok := p.labels[label]
		if !ok || to <= at || to-at-1 > 255 {
			panic(fmt.Sprintf("seccomp: bad jump from %d to %q", at, label))
		}
		return uint8(to - at - 1)
	}
	for _, f := range p.fixups {
		p.ins[f.at].Jt, p.ins[f.at].Jf = off(f.at, f.jt), off(f.at, f.jf)
	}
	return p.ins
}

// denyFilter builds the BPF program.
func denyFilter(arch uint32) []unix.SockFilter {
	var p bpfProgram
	p.load(offArch)
	p.jump(unix.BPF_JEQ, arch, "", "enosys") // another ABI
	p.load(offNr)
	p.jump(unix.BPF_JGE, x32Bit, "enosys", "") // x32
	p.jump(unix.BPF_JEQ, unix.SYS_IO_URING_SETUP, "eperm", "")
	p.jump(unix.BPF_JEQ, unix.SYS_IO_URING_ENTER, "eperm", "")
	p.jump(unix.BPF_JEQ, unix.SYS_IO_URING_REGISTER, "eperm", "")
	p.jump(unix.BPF_JEQ, unix.SYS_SOCKET, "socket", "allow")
	p.label("socket")
	p.load(offArg0)
	p.jump(unix.BPF_JEQ, unix.AF_NETLINK, "netlink", "")
	for _, fam := range socketFamilies {
		if fam != unix.AF_NETLINK {
			p.jump(unix.BPF_JEQ, fam, "allow", "")
		}
	}
	p.ret(retErrno(unix.EAFNOSUPPORT))
	p.label("netlink")
	p.load(offArg2)
	p.jump(unix.BPF_JEQ, unix.NETLINK_ROUTE, "allow", "")
	p.ret(retErrno(unix.EPROTONOSUPPORT))
	p.label("enosys")
	p.ret(retErrno(unix.ENOSYS))
	p.label("eperm")
	p.ret(retErrno(unix.EPERM))
	p.label("allow")
	p.ret(retAllow)
	return p.assemble()
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
