package bench

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where a run happened. LocalMachine fills what the
// host tells; the caller adds the engine's facts.
type Machine struct {
	CPUs      int     `json:"cpus"`
	CPUModel  string  `json:"cpu_model,omitempty"`
	MemoryMB  int64   `json:"memory_mb,omitempty"`
	Kernel    string  `json:"kernel,omitempty"`
	OS        string  `json:"os"`
	Arch      string  `json:"arch"`
	GoVersion string  `json:"go_version"`
	Load1     float64 `json:"load1_at_start"` // 1-minute load average when the run began
	Engine    string  `json:"engine,omitempty"`
	EngineAPI string  `json:"engine_api,omitempty"`
	Runtime   string  `json:"runtime,omitempty"` // OCI runtime of the sandboxes
	Cgroup    string  `json:"cgroup,omitempty"`
	Warmbox   string  `json:"warmbox_version,omitempty"`
}

// LocalMachine reads the host's facts; what it cannot read stays empty.
func LocalMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.Load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		if n, err := strconv.ParseInt(strings.Fields(kb)[0], 10, 64); err == nil {
			m.MemoryMB = n / 1024
		}
	}
	return m
}

// procField returns the value of the first "key: value" line of a
// /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
