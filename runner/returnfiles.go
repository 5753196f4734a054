package runner

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"syscall"

	"github.com/warmbox/warmbox/runner/wire"
)

// collectFiles reads the regular files under dir that match patterns, in
// name order, at most maxFiles of them and maxBytes in all; truncated
// says some matched but did not fit. It runs after every process of the
// job is gone, as the job's uid (asJob), so it reads only what the job
// could read, and through an os.Root, so no symlink the job planted
// leads out of dir. A FIFO, a device or a directory is skipped, never
// opened for a blocking read.
func collectFiles(dir string, patterns []string, maxFiles, maxBytes int) (files []wire.File, truncated bool, err error) {
	if len(patterns) == 0 {
		return nil, false, nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, false, err
	}
	defer root.Close()
	var names []string
	for _, p := range patterns {
		m, err := fs.Glob(root.FS(), p)
		if err != nil {
			return nil, false, err
		}
		names = append(names, m...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	left := maxBytes
	for _, name := range names {
		content, found, err := readReturned(root, name, left)
		switch {
		case err != nil:
			return nil, false, fmt.Errorf("return file %s: %w", wire.QuoteName(name), err)
		case found == notReturned:
			continue
		case found == tooLarge || len(files) == maxFiles:
			truncated = true
			continue
		}
		files = append(files, wire.File{Name: name, Content: content})
		left -= len(content)
	}
	return files, truncated, nil
}

// What readReturned found.
const (
	returned    = iota
	notReturned // not a regular file, vanished, or not the job's to read
	tooLarge    // over what is left of the byte budget
)

// readReturned reads one matched file of at most limit bytes.
func readReturned(root *os.Root, name string, limit int) ([]byte, int, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		// A symlink (O_NOFOLLOW), one that leads out of the root, a file
		// the job may not read, or one gone: not returned.
		return nil, notReturned, nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, notReturned, nil
	}
	if fi.Size() > int64(limit) {
		return nil, tooLarge, nil
	}
	content, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	switch {
	case err != nil:
		return nil, notReturned, err
	case len(content) > limit:
		return nil, tooLarge, nil
	}
	return content, returned, nil
}
