package policy

import (
	"fmt"
	"time"
)

// Limits bound one sandbox and the jobs it runs. The engine turns the
// container-wide ones into container settings; the runner enforces
// Timeout and OutputBytes; the API enforces the request sizes.
type Limits struct {
	// Timeout is the default wall-clock limit of a job.
	Timeout time.Duration `yaml:"timeout"`
	// MaxTimeout is the largest timeout a request may ask for.
	MaxTimeout time.Duration `yaml:"max_timeout"`
	// CompileTimeout is the wall-clock limit of a compiled language's
	// compile stage, on top of the program's timeout.
	CompileTimeout time.Duration `yaml:"compile_timeout"`
	// CompileMemoryMB is the compile stage's memory, when a compiler
	// needs more than the program: the sandbox then gets this much
	// (SandboxMemoryMB) and each process of the program is held to
	// MemoryMB by RLIMIT_DATA. 0: the compiler gets MemoryMB too.
	CompileMemoryMB int64 `yaml:"compile_memory_mb"`
	// CompileCPUTime bounds each compiler process's CPU time
	// (RLIMIT_CPU, whole seconds); 0: only CompileTimeout bounds it.
	CompileCPUTime time.Duration `yaml:"compile_cpu_time"`
	// MemoryMB is the program's memory: the container's memory limit
	// (swap off), unless CompileMemoryMB asks for a larger sandbox.
	MemoryMB int64 `yaml:"memory_mb"`
	// CPUs is the container's CPU quota, in cores.
	CPUs float64 `yaml:"cpus"`
	// Pids caps processes and threads in the container.
	Pids int64 `yaml:"pids"`
	// TmpfsMB sizes the writable work dir (/tmp, a tmpfs).
	TmpfsMB int64 `yaml:"tmpfs_mb"`
	// TmpfsInodes caps files in the work dir.
	TmpfsInodes int64 `yaml:"tmpfs_inodes"`
	// ShmMB sizes /dev/shm.
	ShmMB int64 `yaml:"shm_mb"`
	// NoFile is the open-files rlimit (soft = hard).
	NoFile int64 `yaml:"nofile"`
	// FileSizeMB is the largest file a job may write (RLIMIT_FSIZE).
	FileSizeMB int64 `yaml:"file_size_mb"`
	// OutputBytes caps stdout and stderr, each.
	OutputBytes int `yaml:"output_bytes"`
	// CodeBytes caps the code plus all files of a request.
	CodeBytes int `yaml:"code_bytes"`
	// StdinBytes caps a request's stdin.
	StdinBytes int `yaml:"stdin_bytes"`
	// MaxFiles caps the number of extra files in a request.
	MaxFiles int `yaml:"max_files"`
	// MaxArgs caps the number of program arguments.
	MaxArgs int `yaml:"max_args"`
	// MaxReturnFiles and MaxReturnBytes cap the files a request's
	// return_files brings back: how many, and their bytes in all.
	MaxReturnFiles int `yaml:"max_return_files"`
	MaxReturnBytes int `yaml:"max_return_bytes"`
}

// DefaultLimits are the limits a sandbox gets unless configured otherwise.
func DefaultLimits() Limits {
	return Limits{
		Timeout:        30 * time.Second,
		MaxTimeout:     60 * time.Second,
		CompileTimeout: 30 * time.Second,
		MemoryMB:       256,
		CPUs:           0.5,
		Pids:           50,
		TmpfsMB:        50,
		TmpfsInodes:    10000,
		ShmMB:          16,
		NoFile:         1024,
		FileSizeMB:     50,
		OutputBytes:    10 * 1024,
		CodeBytes:      64 * 1024,
		StdinBytes:     512 << 10,
		MaxFiles:       100,
		MaxArgs:        100,
		MaxReturnFiles: 10,
		MaxReturnBytes: 1 << 20,
	}
}

// Validate checks that every limit is in its accepted range. Errors name
// the key (relative to the limits block) and the range.
func (l Limits) Validate() error {
	checks := []struct {
		key    string
		ok     bool
		accept string
		got    any
	}{
		{"timeout", l.Timeout >= time.Second && l.Timeout <= l.MaxTimeout, "1s to max_timeout", l.Timeout},
		{"max_timeout", l.MaxTimeout >= time.Second && l.MaxTimeout <= 10*time.Minute, "1s to 10m", l.MaxTimeout},
		{"compile_timeout", l.CompileTimeout >= time.Second && l.CompileTimeout <= 5*time.Minute, "1s to 5m", l.CompileTimeout},
		{"compile_memory_mb", l.CompileMemoryMB == 0 || l.CompileMemoryMB >= 16 && l.CompileMemoryMB <= 64*1024, "0 (memory_mb) or 16 to 65536", l.CompileMemoryMB},
		{"compile_cpu_time", l.CompileCPUTime == 0 || l.CompileCPUTime >= time.Second && l.CompileCPUTime <= l.CompileTimeout && l.CompileCPUTime%time.Second == 0,
			"0 (none) or whole seconds from 1s to compile_timeout", l.CompileCPUTime},
		{"memory_mb", l.MemoryMB >= 16 && l.MemoryMB <= 64*1024, "16 to 65536", l.MemoryMB},
		{"cpus", l.CPUs >= 0.01 && l.CPUs <= 64, "0.01 to 64", l.CPUs},
		{"pids", l.Pids >= 8 && l.Pids <= 4096, "8 to 4096", l.Pids},
		{"tmpfs_mb", l.TmpfsMB >= 1 && l.TmpfsMB <= 4096, "1 to 4096", l.TmpfsMB},
		{"tmpfs_inodes", l.TmpfsInodes >= 64 && l.TmpfsInodes <= 1_000_000, "64 to 1000000", l.TmpfsInodes},
		{"shm_mb", l.ShmMB >= 1 && l.ShmMB <= 1024, "1 to 1024", l.ShmMB},
		{"nofile", l.NoFile >= 64 && l.NoFile <= 65536, "64 to 65536", l.NoFile},
		{"file_size_mb", l.FileSizeMB >= 1 && l.FileSizeMB <= 4096, "1 to 4096", l.FileSizeMB},
		{"output_bytes", l.OutputBytes >= 256 && l.OutputBytes <= 8<<20, "256 to 8388608", l.OutputBytes},
		{"code_bytes", l.CodeBytes >= 1024 && l.CodeBytes <= 8<<20, "1024 to 8388608", l.CodeBytes},
		{"stdin_bytes", l.StdinBytes >= 0 && l.StdinBytes <= 8<<20, "0 to 8388608", l.StdinBytes},
		{"max_files", l.MaxFiles >= 0 && l.MaxFiles <= 1000, "0 to 1000", l.MaxFiles},
		{"max_args", l.MaxArgs >= 0 && l.MaxArgs <= 1000, "0 to 1000", l.MaxArgs},
		{"max_return_files", l.MaxReturnFiles >= 0 && l.MaxReturnFiles <= 100, "0 to 100", l.MaxReturnFiles},
		{"max_return_bytes", l.MaxReturnBytes >= 0 && l.MaxReturnBytes <= 4<<20, "0 to 4194304", l.MaxReturnBytes},
	}
	for _, c := range checks {
		if !c.ok {
			return fmt.Errorf("%s: must be %s, got %v", c.key, c.accept, c.got)
		}
	}
	return nil
}

// SandboxMemoryMB is the sandbox's memory limit: the larger of the
// program's and the compiler's.
func (l Limits) SandboxMemoryMB() int64 {
	return max(l.MemoryMB, l.CompileMemoryMB)
}

// CompilerMemoryMB is the compile stage's memory.
func (l Limits) CompilerMemoryMB() int64 {
	if l.CompileMemoryMB > 0 {
		return l.CompileMemoryMB
	}
	return l.MemoryMB
}

// RequestTimeout resolves the timeout a request asked for: zero means the
// default; anything else must lie in [1s, MaxTimeout]. A request can lower
// limits, never raise them.
func (l Limits) RequestTimeout(asked time.Duration) (time.Duration, error) {
	if asked == 0 {
		return l.Timeout, nil
	}
	if asked < time.Second || asked > l.MaxTimeout {
		return 0, fmt.Errorf("timeout must be between 1 and %d seconds", int(l.MaxTimeout/time.Second))
	}
	return asked, nil
}

// Lowered are the limits one request lowered; a zero field keeps the
// language's.
type Lowered struct {
	// MemoryMB bounds each process's heap and private writable memory
	// (the sandbox's memory limit still bounds them all together).
	MemoryMB int64
	// CPUTime bounds each process's CPU time, in whole seconds.
	CPUTime time.Duration
	// Processes bounds the job's processes and threads together.
	Processes int64
	// OutputBytes caps stdout and stderr, each.
	OutputBytes int
	// CompileTimeout, CompileMemoryMB and CompileCPUTime lower a compiled
	// language's compile stage as the fields above lower its program.
	CompileTimeout  time.Duration
	CompileMemoryMB int64
	CompileCPUTime  time.Duration
}

// Lowest values a request may ask for: below them an interpreter cannot
// start at all, which would read as a broken sandbox.
const (
	MinLoweredMemoryMB  = 16
	MinLoweredProcesses = 8
)

// CheckLowered reports the first limit of asked that is not a lowering of
// l: its field name (as the API spells it) and why. A request can lower
// limits, never raise them.
func (l Limits) CheckLowered(asked Lowered) (field string, err error) {
	switch {
	case asked.MemoryMB != 0 && (asked.MemoryMB < MinLoweredMemoryMB || asked.MemoryMB > l.MemoryMB):
		return "memory_mb", fmt.Errorf("limits.memory_mb must be %d to %d (the language's); a request can only lower a limit", MinLoweredMemoryMB, l.MemoryMB)
	case asked.CPUTime != 0 && (asked.CPUTime < time.Second || asked.CPUTime > l.MaxTimeout):
		return "cpu_time", fmt.Errorf("limits.cpu_time must be 1 to %d seconds (max_timeout); a request can only lower a limit", int(l.MaxTimeout/time.Second))
	case asked.Processes != 0 && (asked.Processes < MinLoweredProcesses || asked.Processes > l.Pids):
		return "processes", fmt.Errorf("limits.processes must be %d to %d (the language's pids); a request can only lower a limit", MinLoweredProcesses, l.Pids)
	case asked.OutputBytes != 0 && (asked.OutputBytes < 1 || asked.OutputBytes > l.OutputBytes):
		return "output_bytes", fmt.Errorf("limits.output_bytes must be 1 to %d (the language's); a request can only lower a limit", l.OutputBytes)
	case asked.CompileTimeout != 0 && (asked.CompileTimeout < time.Second || asked.CompileTimeout > l.CompileTimeout):
		return "compile_timeout", fmt.Errorf("limits.compile_timeout must be 1 to %d seconds (the language's); a request can only lower a limit", int(l.CompileTimeout/time.Second))
	case asked.CompileMemoryMB != 0 && (asked.CompileMemoryMB < MinLoweredMemoryMB || asked.CompileMemoryMB > l.CompilerMemoryMB()):
		return "compile_memory_mb", fmt.Errorf("limits.compile_memory_mb must be %d to %d (the language's); a request can only lower a limit", MinLoweredMemoryMB, l.CompilerMemoryMB())
	case asked.CompileCPUTime != 0 && (asked.CompileCPUTime < time.Second || asked.CompileCPUTime > l.CompilerCPUTime()):
		return "compile_cpu_time", fmt.Errorf("limits.compile_cpu_time must be 1 to %d seconds (the language's); a request can only lower a limit", int(l.CompilerCPUTime()/time.Second))
	}
	return "", nil
}

// CompilerCPUTime is the most CPU time a compile stage may have: its
// CPU limit, or its wall-clock limit when it has none.
func (l Limits) CompilerCPUTime() time.Duration {
	if l.CompileCPUTime > 0 {
		return l.CompileCPUTime
	}
	return l.CompileTimeout
}
