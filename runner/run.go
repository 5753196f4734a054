package runner

import (
	"errors"
	"fmt"
	"time"

	"github.com/warmbox/warmbox/runner/wire"
)

// options configure execute. Tests point the work dir and the cgroup root
// at temporary directories.
type options struct {
	workDir    string // where the job's files go and the program runs
	cgroupRoot string // where memory.events or memory/memory.oom_control live
	logf       func(format string, args ...any)
}

func defaultOptions(logf func(string, ...any)) options {
	return options{workDir: "/tmp", cgroupRoot: cgroupRoot, logf: logf}
}

// execute runs one job to the end in exec mode as uid, with a cold start
// of its program and a reaper of its own; a streamed job's output goes
// to send.
func execute(job wire.Job, opt options, uid int, send sendOutput) wire.Result {
	r := newReaper()
	defer r.stop()
	return runJob(job, opt, uid, send, func(job wire.Job) (*jobProcess, error) {
		return startProcess(job, opt.workDir, r, jobCredential(uid))
	})
}

// runJob runs one job to the end and reports it: it validates the job,
// writes its files, has start begin the program (a cold start, or the go
// signal to a pre-started interpreter), sends its output to send while
// it runs if the job is streamed, enforces the deadline, kills every
// process the job left behind and reaps them. Once it returns, send is
// no longer called. Every failure is reported in Result.Error; runJob
// never panics on a bad job.
//
// The job runs as uid: its files are created as uid, start must start
// its program as uid, and the sweep at the end kills exactly the
// processes of uid. It assumes only that the process was prepared by
// harden, and touches nothing it does not clean up, except the files in
// the work dir.
func runJob(job wire.Job, opt options, uid int, send sendOutput, start func(wire.Job) (*jobProcess, error)) wire.Result {
	if err := job.Validate(); err != nil {
		return wire.Result{Error: err.Error()}
	}
	oomBefore, oomKnown := readOOMKills(opt.cgroupRoot)
	if err := asJob(uid, func() error { return writeFiles(opt.workDir, job.Files) }); err != nil {
		return wire.Result{Error: err.Error()}
	}

	sweepAsJob := func(r *reaper) error {
		return asJob(uid, func() error { return sweep(r) })
	}
	var stage *wire.Stage
	if job.Compile != nil {
		s, err := compile(job, start, sweepAsJob, opt.logf)
		if err != nil {
			return wire.Result{Error: err.Error()}
		}
		if stage = &s; !s.OK() {
			return wire.Result{Compile: stage}
		}
	}
	p, err := start(job)
	if err != nil {
		return wire.Result{Error: err.Error()}
	}
	if job.Stream {
		defer p.stream(send).close()
	}
	res := p.finish(time.Duration(job.Limits.TimeoutMs)*time.Millisecond, sweepAsJob, opt.logf)

	if oomKnown {
		if after, ok := readOOMKills(opt.cgroupRoot); ok && after > oomBefore {
			res.OOMKilled = true
		}
	}
	res.Compile = stage
	if res.Error == "" && len(job.ReturnFiles) > 0 {
		err := asJob(uid, func() error {
			var err error
			res.Files, res.FilesTruncated, err = collectFiles(opt.workDir, job.ReturnFiles,
				job.Limits.ReturnFiles, job.Limits.ReturnBytes)
			return err
		})
		if err != nil {
			opt.logf("return files: %v", err)
			res.Files, res.FilesTruncated = nil, true
		}
	}
	return res
}

// compile runs a job's compile stage to the end, started by start (cold:
// its command is not the pre-started interpreter's), and sweeps what it
// left behind. The error is a message for the caller.
func compile(job wire.Job, start func(wire.Job) (*jobProcess, error), killAll func(*reaper) error, logf func(string, ...any)) (wire.Stage, error) {
	c := wire.Job{
		Command: job.Compile.Command,
		Entry:   job.Entry,
		Env:     job.Env,
		Limits: wire.Limits{TimeoutMs: job.Compile.TimeoutMs, OutputBytes: job.Limits.OutputBytes,
			FileSizeBytes: job.Limits.FileSizeBytes, NoFile: job.Limits.NoFile,
			DataBytes: job.Compile.DataBytes, CPUSeconds: job.Compile.CPUSeconds},
	}
	p, err := start(c)
	if err != nil {
		return wire.Stage{}, fmt.Errorf("compile: %w", err)
	}
	res := p.finish(time.Duration(c.Limits.TimeoutMs)*time.Millisecond, killAll, logf)
	if res.Error != "" {
		return wire.Stage{}, errors.New("compile: " + res.Error)
	}
	return res.Stage, nil
}
