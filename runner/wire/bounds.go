package wire

import (
	"fmt"
	"path"
	"strings"
)

// A sandbox's uids: a block of UIDBlock ids, the runner's first, then
// one per job (the runner's creds.go says how it uses them).
const (
	// UIDBlock is how many ids a sandbox has: the runner's, then one per
	// job, so a sandbox serves at most UIDBlock-1 jobs.
	UIDBlock = 256
	// MinSandboxUID and MaxSandboxUID bound every block, below 65536 so
	// that an engine with user-namespace remapping (which maps 65536 ids)
	// can run them.
	MinSandboxUID = 20000
	MaxSandboxUID = 65535
)

// ValidRunnerUID reports whether base can start a sandbox's block.
func ValidRunnerUID(base int) error {
	if base < MinSandboxUID || base+UIDBlock-1 > MaxSandboxUID {
		return fmt.Errorf("runner uid %d: must be %d to %d", base, MinSandboxUID, MaxSandboxUID-UIDBlock+1)
	}
	return nil
}

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
		return fmt.Errorf("return_files pattern %s: malformed (path.Match syntax: *, ?, [a-z])", QuoteName(p))
	}
	if err := ValidateFileName(p); err != nil {
		return fmt.Errorf("return_files pattern %s", strings.TrimPrefix(err.Error(), "file name "))
	}
	return nil
}
