package runner

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	"github.com/warmbox/warmbox/runner/wire"
)

// writeFiles creates the job's files under dir. Names must already have
// passed validateFiles. Every operation goes through an os.Root, so no
// symlink (one planted by an earlier job, say) can lead outside dir, and
// O_EXCL refuses to reuse or follow anything already there.
func writeFiles(dir string, files []wire.File) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open work dir: %s", errnoText(err))
	}
	defer root.Close()
	for _, f := range files {
		if err := writeFile(root, f); err != nil {
			return fmt.Errorf("write file %s: %s", wire.QuoteName(f.Name), errnoText(err))
		}
	}
	return nil
}

func writeFile(root *os.Root, f wire.File) error {
	if d := path.Dir(f.Name); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	w, err := root.OpenFile(f.Name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := w.Write(f.Content); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// errnoText reduces an error from the os package to its last part ("file
// exists", "no space left on device"), dropping the paths and operation
// names that a caller has no use for.
func errnoText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	return err.Error()
}
