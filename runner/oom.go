package runner

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// cgroupRoot is where the container sees its own cgroups.
const cgroupRoot = "/sys/fs/cgroup"

// oomKillFiles are the files, under the cgroup root, that count OOM kills
// in the container's memory cgroup: cgroup v2 first, then v1.
var oomKillFiles = []string{
	"memory.events",
	"memory/memory.oom_control",
}

// readOOMKills returns the memory cgroup's oom_kill counter and whether
// one could be read.
func readOOMKills(root string) (uint64, bool) {
	for _, name := range oomKillFiles {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			continue
		}
		if n, ok := parseOOMKill(data); ok {
			return n, true
		}
	}
	return 0, false
}

// parseOOMKill finds the line "oom_kill N" in a memory.events or
// memory.oom_control file.
func parseOOMKill(data []byte) (uint64, bool) {
	for line := range bytes.Lines(data) {
		key, val, ok := bytes.Cut(line, []byte(" "))
		if !ok || string(key) != "oom_kill" {
			continue
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(val)), 10, 64)
		if err != nil {
			return 0, false
		}
		return n, true
	}
	return 0, false
}
