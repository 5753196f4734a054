package runner

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

// Bounds of Job.ReturnFiles and of what comes back.
const (
	// MaxReturnPatterns bounds the patterns of one job.
	MaxReturnPatterns = 16
	// MaxReturnFiles and MaxReturnBytes bound Limits.ReturnFiles and
	// Limits.ReturnBytes, so that a result with every file (base64 in
	// JSON) still fits in one frame.
	MaxReturnFiles = 100
	MaxReturnBytes = 4 << 20
)

// ValidateReturnPattern reports whether p may select files to return: a
// pattern of path.Match (*, ?, [...]) relative to the work dir, within
// the bounds of a file name, with no "." or ".." component.
func ValidateReturnPattern(p string) error {
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("return_files pattern %s: malformed (path.Match syntax: *, ?, [a-z])", quoteName(p))
	}
	if err := ValidateFileName(p); err != nil {
		return fmt.Errorf("return_files pattern %s", strings.TrimPrefix(err.Error(), "file name "))
	}
	return nil
}

// collectFiles reads the regular files under dir that match patterns, in
// name order, at most maxFiles of them and maxBytes in all; truncated
// says some matched but did not fit. It runs after every process of the
// job is gone, as the job's uid (asJob), so it reads only what the job
// could read, and through an os.Root, so no symlink the job planted
// leads out of dir. A FIFO, a device or a directory is skipped, never
// opened for a blocking read.
func collectFiles(dir string, patterns []string, maxFiles, maxBytes int) (files []File, truncated bool, err error) {
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
			return nil, false, fmt.Errorf("return file %s: %w", quoteName(name), err)
		case found == notReturned:
			continue
		case found == tooLarge || len(files) == maxFiles:
			truncated = true
			continue
		}
		files = append(files, File{Name: name, Content: content})
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
