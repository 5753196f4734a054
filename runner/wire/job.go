package wire

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// Bounds of file names, checked by ValidateFileName.
const (
	MaxFileNameBytes      = 1024
	MaxFileNameComponent  = 255
	MaxFileNameComponents = 8
)

// maxTimeoutMs bounds Limits.TimeoutMs far above any policy, only so the
// deadline never overflows a time.Duration.
const maxTimeoutMs = 24 * 60 * 60 * 1000

// MaxOutputBytes bounds Limits.OutputBytes, so that a Result with both
// streams full (base64 in JSON) still fits in one frame.
const MaxOutputBytes = 4 << 20

// ValidateFileName reports whether name is safe to create under the work
// dir: a relative path of at most MaxFileNameComponents plain components,
// with no ".", ".." or empty component, no control character, no
// backslash, and valid UTF-8. A name it accepts never leaves the directory
// it is joined to.
func ValidateFileName(name string) error {
	bad := func(what string) error {
		return fmt.Errorf("file name %s: %s", QuoteName(name), what)
	}
	switch {
	case name == "":
		return bad("must not be empty")
	case len(name) > MaxFileNameBytes:
		return bad(fmt.Sprintf("must be at most %d bytes", MaxFileNameBytes))
	case !utf8.ValidString(name):
		return bad("must be valid UTF-8")
	case strings.HasPrefix(name, "/"):
		return bad("must be relative, not absolute")
	case strings.Contains(name, `\`):
		return bad(`must not contain "\"`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return bad("must not contain control characters or NUL")
		}
	}
	parts := strings.Split(name, "/")
	if len(parts) > MaxFileNameComponents {
		return bad(fmt.Sprintf("must have at most %d path components", MaxFileNameComponents))
	}
	for _, p := range parts {
		switch {
		case p == "":
			return bad("must not contain empty components")
		case p == ".":
			return bad(`must not contain "." components`)
		case p == "..":
			return bad(`must not contain ".."`)
		case len(p) > MaxFileNameComponent:
			return bad(fmt.Sprintf("components must be at most %d bytes", MaxFileNameComponent))
		}
	}
	return nil
}

// quoteName quotes a file name for an error message, shortened so that a
// hostile name cannot blow up the message.
func QuoteName(name string) string {
	const limit = 64
	if len(name) <= limit {
		return fmt.Sprintf("%q", name)
	}
	return fmt.Sprintf("%q...", name[:limit])
}

// Validate reports the first problem that stops the job from running:
// a bad or duplicate file name, an Entry that is not one of Files, an
// empty Command, malformed Env entries or out-of-range Limits. It has no
// side effects, so the daemon can call it before leasing a sandbox.
func (j Job) Validate() error {
	if err := validateFiles(j.Files, j.Entry); err != nil {
		return err
	}
	if len(j.Command) == 0 || j.Command[0] == "" {
		return errors.New("command must not be empty")
	}
	for _, a := range append(append([]string{}, j.Command...), j.Args...) {
		if strings.IndexByte(a, 0) >= 0 {
			return errors.New("command and args must not contain NUL")
		}
	}
	for _, e := range j.Env {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" || strings.IndexByte(e, 0) >= 0 {
			return fmt.Errorf("env entry %s: must be KEY=VALUE without NUL", QuoteName(e))
		}
	}
	if c := j.Compile; c != nil {
		if len(c.Command) == 0 || c.Command[0] == "" {
			return errors.New("compile: command must not be empty")
		}
		for _, a := range c.Command {
			if strings.IndexByte(a, 0) >= 0 {
				return errors.New("compile: command must not contain NUL")
			}
		}
		if c.TimeoutMs <= 0 || c.TimeoutMs > maxTimeoutMs {
			return fmt.Errorf("compile: timeout_ms must be between 1 and %d", maxTimeoutMs)
		}
		if c.DataBytes < 0 || c.CPUSeconds < 0 {
			return errors.New("compile: data_bytes and cpu_seconds must not be negative")
		}
		if j.Cell {
			return errors.New("compile: a session cell has no compile stage")
		}
	}
	if len(j.ReturnFiles) > MaxReturnPatterns {
		return fmt.Errorf("return_files: at most %d patterns", MaxReturnPatterns)
	}
	for _, p := range j.ReturnFiles {
		if err := ValidateReturnPattern(p); err != nil {
			return err
		}
	}
	if len(j.ReturnFiles) > 0 && j.Cell {
		return errors.New("return_files: a session cell returns no files")
	}
	if j.Limits.ReturnFiles < 0 || j.Limits.ReturnFiles > MaxReturnFiles ||
		j.Limits.ReturnBytes < 0 || j.Limits.ReturnBytes > MaxReturnBytes {
		return fmt.Errorf("limits: return_files must be 0 to %d and return_bytes 0 to %d", MaxReturnFiles, MaxReturnBytes)
	}
	if j.Limits.DataBytes < 0 || j.Limits.CPUSeconds < 0 || j.Limits.Processes < 0 {
		return errors.New("limits: data_bytes, cpu_seconds and processes must not be negative")
	}
	if j.Limits.TimeoutMs <= 0 || j.Limits.TimeoutMs > maxTimeoutMs {
		return fmt.Errorf("limits: timeout_ms must be between 1 and %d", maxTimeoutMs)
	}
	if j.Limits.OutputBytes < 0 || j.Limits.OutputBytes > MaxOutputBytes {
		return fmt.Errorf("limits: output_bytes must be between 0 and %d", MaxOutputBytes)
	}
	return nil
}

// validateFiles checks every name, rejects duplicates and a file that is
// also used as a directory ("a" and "a/b"), and checks that entry names
// one of the files. The entry must not start with "-", where the
// interpreter would read it as an option.
func validateFiles(files []File, entry string) error {
	names := make(map[string]bool, len(files))
	for _, f := range files {
		if err := ValidateFileName(f.Name); err != nil {
			return err
		}
		if names[f.Name] {
			return fmt.Errorf("file name %s: duplicate", QuoteName(f.Name))
		}
		names[f.Name] = true
	}
	for _, f := range files {
		for dir := path.Dir(f.Name); dir != "."; dir = path.Dir(dir) {
			if names[dir] {
				return fmt.Errorf("file name %s: %s is a file, not a directory",
					QuoteName(f.Name), QuoteName(dir))
			}
		}
	}
	switch {
	case entry == "":
		return errors.New("entry must name one of the files")
	case !names[entry]:
		return fmt.Errorf("entry %s: not one of the files", QuoteName(entry))
	case strings.HasPrefix(entry, "-"):
		return fmt.Errorf("entry %s: must not start with \"-\"", QuoteName(entry))
	}
	return nil
}
