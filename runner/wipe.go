package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// maxWipeDepth bounds the directory nesting wipe follows; each level
// holds one fd. A deeper tree is an error (and the sandbox is destroyed).
const maxWipeDepth = 64

// errDeadline ends a wipe that ran out of time.
var errDeadline = errors.New("out of time")

// wipe removes everything inside dir, but not dir itself, by the end
// time. It never follows a symlink: every step is an *at call relative
// to an fd of the directory it acts in, and directories are opened with
// O_NOFOLLOW. A directory the job made unreadable or unwritable (mode
// 000, 500...) is given mode 700 first, through an O_PATH fd of it. It
// carries on past an entry it cannot remove and returns the first
// error; what is left is for the caller to report. A missing dir is
// os.ErrNotExist.
func wipe(dir string, end time.Time) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	w := wiper{end: end}
	w.empty(fd, dir, 0)
	return w.err
}

type wiper struct {
	end time.Time
	err error // the first error
}

func (w *wiper) fail(path string, err error) {
	if w.err == nil {
		w.err = fmt.Errorf("%s: %w", path, err)
	}
}

// empty removes every entry of the directory open as fd, then closes fd.
func (w *wiper) empty(fd int, path string, depth int) {
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	// All names first: removing entries while reading the directory
	// could skip some.
	names, err := f.Readdirnames(-1)
	if err != nil && err != io.EOF {
		w.fail(path, err)
		return
	}
	for _, name := range names {
		if time.Now().After(w.end) {
			w.fail(path, errDeadline)
			return
		}
		w.remove(fd, path+"/"+name, name, depth)
	}
}

// remove removes name from the directory open as dirfd.
func (w *wiper) remove(dirfd int, path, name string, depth int) {
	err := unix.Unlinkat(dirfd, name, 0)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT):
		return
	case !errors.Is(err, unix.EISDIR):
		w.fail(path, err)
		return
	case depth >= maxWipeDepth:
		w.fail(path, fmt.Errorf("nested deeper than %d directories", maxWipeDepth))
		return
	}
	sub, err := openOwnDir(dirfd, name)
	if err != nil {
		w.fail(path, err)
		return
	}
	w.empty(sub, path, depth+1)
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		w.fail(path, err)
	}
}

// openOwnDir opens the directory name in dirfd for reading, making it
// readable, writable and searchable by its owner first if it is not.
// A symlink fails (O_NOFOLLOW), it is never followed.
func openOwnDir(dirfd int, name string) (int, error) {
	pfd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return -1, err
	}
	if st.Mode&0o700 != 0o700 {
		// fchmod refuses an O_PATH fd; its /proc link names the very
		// inode we opened, whatever happens to name meanwhile.
		if err := unix.Chmod("/proc/self/fd/"+strconv.Itoa(pfd), 0o700); err != nil {
			return -1, err
		}
	}
	return unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// dirNames lists dir's entries, for verification.
func dirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
