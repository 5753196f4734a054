package runner

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ipcKinds are the SysV IPC object kinds, by their file in /proc/sysvipc.
var ipcKinds = []string{"shm", "msg", "sem"}

// ipcObject is one SysV IPC object of the sandbox's IPC namespace.
type ipcObject struct {
	kind string // "shm", "msg" or "sem"
	id   int
}

func (o ipcObject) String() string { return o.kind + " " + strconv.Itoa(o.id) }

// listIPC reads every object from the /proc/sysvipc files under dir. A
// missing file is an error: what cannot be listed cannot be verified.
func listIPC(dir string) ([]ipcObject, error) {
	var objs []ipcObject
	for _, kind := range ipcKinds {
		data, err := os.ReadFile(filepath.Join(dir, kind))
		if err != nil {
			return nil, fmt.Errorf("list SysV IPC: %s", errnoText(err))
		}
		ids, err := parseSysvipc(data)
		if err != nil {
			return nil, fmt.Errorf("list SysV IPC %s: %w", kind, err)
		}
		for _, id := range ids {
			objs = append(objs, ipcObject{kind: kind, id: id})
		}
	}
	return objs, nil
}

// parseSysvipc returns the ids (second column) of a /proc/sysvipc file:
// one header line, then one line per object.
func parseSysvipc(data []byte) ([]int, error) {
	var ids []int
	sc := bufio.NewScanner(bytes.NewReader(data))
	for first := true; sc.Scan(); first = false {
		fields := strings.Fields(sc.Text())
		if first || len(fields) == 0 {
			continue
		}
		if len(fields) < 2 {
			return nil, fmt.Errorf("short line %q", sc.Text())
		}
		id, err := strconv.Atoi(fields[1])
		if err != nil || id < 0 {
			return nil, fmt.Errorf("bad id %q", fields[1])
		}
		ids = append(ids, id)
	}
	return ids, sc.Err()
}

// removeIPC removes every listed object (IPC_RMID, which its owner or
// creator may do) and returns the first error.
func removeIPC(objs []ipcObject) error {
	var first error
	for _, o := range objs {
		var errno unix.Errno
		switch o.kind {
		case "shm":
			_, err := unix.SysvShmCtl(o.id, unix.IPC_RMID, nil)
			errno, _ = err.(unix.Errno)
		case "msg":
			_, _, errno = unix.Syscall(unix.SYS_MSGCTL, uintptr(o.id), unix.IPC_RMID, 0)
		case "sem":
			_, _, errno = unix.Syscall6(unix.SYS_SEMCTL, uintptr(o.id), 0, unix.IPC_RMID, 0, 0, 0)
		}
		if errno != 0 && errno != unix.EINVAL && errno != unix.EIDRM && first == nil {
			first = fmt.Errorf("remove SysV %s: %s", o, errno.Error())
		}
	}
	return first
}
