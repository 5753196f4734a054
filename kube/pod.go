package kube

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/warmbox/warmbox/runner/wire"
	"github.com/warmbox/warmbox/sandbox"
)

// Paths and names inside a sandbox Pod.
const (
	// RunnerImagePath is the runner's path inside RunnerImage.
	RunnerImagePath = "/usr/local/bin/warmbox-runner"
	// WorkDir is the sandbox's only writable directory.
	WorkDir = "/tmp"

	sandboxContainer = "sandbox"
	runnerVolume     = "runner"
	workVolume       = "work"
	// installUID runs the init container that copies the runner in.
	installUID = int64(65534)
)

// sandboxCaps are all the sandbox container has: it starts as root, and
// the runner drops to its own uid at once and starts every job under a
// uid of its own without any (runner/creds.go). Pod Security "restricted"
// forbids adding capabilities and running as root, so the sandbox
// namespace enforces "baseline", which allows exactly these
// (docs/KUBERNETES.md).
var sandboxCaps = []corev1.Capability{"SETUID", "SETGID", "KILL"}

// createTimeout bounds a Pod's creation up to running (and, in prestart
// mode, its runner's ready answer).
const createTimeout = 60 * time.Second

// Pod is one sandbox Pod.
type Pod struct {
	name string
	// runnerUID starts the Pod's uid block (internal/uids); jobs counts
	// the jobs handed to it (exec mode: job n runs as runnerUID+n).
	runnerUID int
	jobs      int
	// attached is the open attach stream to a prestart sandbox's runner;
	// nil in exec mode.
	attached *stream
}

// ID is the Pod's name (unique in the namespace).
func (p *Pod) ID() string { return p.name }

// Runtime creates, hands jobs to and destroys the sandbox Pods of one
// language. It satisfies pool.Runtime[*Pod].
type Runtime struct {
	c    *Cluster
	spec sandbox.Spec
}

// Sandboxes returns the Runtime for one language.
func (c *Cluster) Sandboxes(spec sandbox.Spec) *Runtime { return &Runtime{c: c, spec: spec} }

// Create creates one sandbox Pod and waits until its sandbox container
// runs (and, in prestart mode, its runner answers ready). A Pod that
// fails on the way is deleted before Create returns.
func (r *Runtime) Create(ctx context.Context) (*Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, createTimeout)
	defer cancel()
	uid, err := r.c.blocks.Take()
	if err != nil {
		return nil, fmt.Errorf("pod create: %w", err)
	}
	p, err := r.create(ctx, uid)
	if err != nil {
		r.c.blocks.Put(uid)
	}
	return p, err
}

func (r *Runtime) create(ctx context.Context, uid int) (*Pod, error) {
	spec := r.podSpec(uid)
	r.c.held.Claim(spec.Name)
	created, err := r.c.pods().Create(ctx, spec, metav1.CreateOptions{})
	if err != nil {
		// The API server may have stored the Pod before the call failed
		// (a timeout): the name is ours, so it can be deleted anyway (and
		// if that fails too, reconcile deletes it: it is not live).
		r.c.held.Release(spec.Name)
		return nil, errors.Join(fmt.Errorf("pod create: %w", err), r.c.remove(ctx, spec.Name))
	}
	r.c.held.Confirm(created.Name)
	fail := func(err error) (*Pod, error) {
		r.c.held.Release(created.Name)
		return nil, errors.Join(err, r.c.remove(ctx, created.Name))
	}
	if err := r.c.waitRunning(ctx, created); err != nil {
		return fail(err)
	}
	p := &Pod{name: created.Name, runnerUID: uid}
	if r.spec.Handoff == sandbox.HandoffPrestart {
		// The runner writes its ready frame only when asked: the attach
		// stream connects after the container started, and a frame
		// written before would be lost.
		// A dropped attach stream (API server or kubelet restart, an idle
		// timeout) leaves a Pod that cannot take a job: the pool replaces
		// it at once instead of handing it the next job.
		name := created.Name
		s, err := r.c.open(name, "attach", nil, func() { r.c.lost(name) })
		if err != nil {
			return fail(err)
		}
		if err := s.Hello(ctx); err != nil {
			s.wait()
			return fail(err)
		}
		p.attached = s
	}
	return p, nil
}

// Destroy deletes the Pod at once: the kubelet kills every process in it.
func (r *Runtime) Destroy(ctx context.Context, p *Pod) error {
	// The stream first: a stream that the Pod's end closes would count as
	// a lost sandbox.
	if p.attached != nil {
		p.attached.wait()
	}
	r.c.held.Release(p.name) // a failed delete is retried by reconcile
	err := r.c.remove(ctx, p.name)
	r.c.blocks.Put(p.runnerUID)
	return err
}

// waitRunning watches a new Pod until its sandbox container runs, and
// fails fast with the kubelet's reason when it cannot (image missing,
// refused by policy, init container failed).
func (c *Cluster) waitRunning(ctx context.Context, p *corev1.Pod) error {
	w, err := c.pods().Watch(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", p.Name).String(),
		ResourceVersion: p.ResourceVersion,
	})
	if err != nil {
		return fmt.Errorf("pod watch: %w", err)
	}
	defer w.Stop()
	waiting := "no status yet"
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("pod %s not running (%s): %w", p.Name, waiting, ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("pod %s: watch closed before it ran", p.Name)
			}
			if ev.Type == watch.Deleted {
				return fmt.Errorf("pod %s deleted before it ran", p.Name)
			}
			cur, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				continue
			}
			if running, err := startState(cur); running || err != nil {
				return err
			}
			waiting = pendingReason(cur)
		}
	}
}

// stuckReasons are waiting reasons a Pod does not recover from by itself.
var stuckReasons = map[string]bool{
	"ErrImageNeverPull": true, "ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
	"CrashLoopBackOff": true,
}

// startState reports whether the sandbox container runs, or why it never
// will.
func startState(p *corev1.Pod) (bool, error) {
	if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		return false, fmt.Errorf("pod %s ended before it ran: %s %s", p.Name, p.Status.Reason, p.Status.Message)
	}
	for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := s.State.Waiting; w != nil && stuckReasons[w.Reason] {
			return false, fmt.Errorf("pod %s container %s: %s: %s", p.Name, s.Name, w.Reason, w.Message)
		}
		if t := s.State.Terminated; t != nil && (s.Name == sandboxContainer || t.ExitCode != 0) {
			return false, fmt.Errorf("pod %s container %s ended: %s exit %d %s", p.Name, s.Name, t.Reason, t.ExitCode, strings.TrimSpace(t.Message))
		}
		if s.Name == sandboxContainer && s.State.Running != nil {
			return true, nil
		}
	}
	return false, nil
}

// pendingReason says why a Pod is not running yet, for the error when it
// never does: e.g. "Unschedulable: 0/1 nodes are available: 1 Insufficient
// cpu" (Guaranteed sandboxes reserve their CPU).
func pendingReason(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return c.Reason + ": " + c.Message
		}
	}
	for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := s.State.Waiting; w != nil {
			return s.Name + " " + w.Reason
		}
	}
	return "phase " + string(p.Status.Phase)
}

// podSpec turns the language's spec and limits into a sandbox Pod. Nothing
// in a request reaches here.
func (r *Runtime) podSpec(runnerUID int) *corev1.Pod {
	l := r.spec.Limits
	no, yes := false, true
	uid, root := installUID, int64(0)
	zero := int64(0)
	// Limits equal requests: the Pod is Guaranteed, so a busy neighbour
	// cannot take the CPU a job was promised.
	res := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(l.CPUs*1000), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(l.SandboxMemoryMB()<<20, resource.BinarySI),
	}
	resources := corev1.ResourceRequirements{Limits: res, Requests: res}
	locked := &corev1.SecurityContext{
		RunAsUser:                &uid,
		RunAsGroup:               &uid,
		RunAsNonRoot:             &yes,
		ReadOnlyRootFilesystem:   &yes,
		AllowPrivilegeEscalation: &no,
		Privileged:               &no,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	separating := locked.DeepCopy()
	separating.RunAsUser, separating.RunAsGroup, separating.RunAsNonRoot = &root, &root, &no
	separating.Capabilities.Add = sandboxCaps
	workSize := resource.NewQuantity(l.TmpfsMB<<20, resource.BinarySI)
	runnerSize := resource.MustParse("64Mi")
	box := corev1.Container{
		Name:            sandboxContainer,
		Image:           r.spec.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         r.command(runnerUID),
		WorkingDir:      WorkDir,
		Env: []corev1.EnvVar{
			{Name: "PATH", Value: "/usr/local/bin:/usr/bin:/bin"},
			{Name: "HOME", Value: WorkDir},
			{Name: "LANG", Value: "C.UTF-8"},
		},
		Resources:       resources,
		SecurityContext: separating,
		VolumeMounts: []corev1.VolumeMount{
			{Name: workVolume, MountPath: WorkDir},
			{Name: runnerVolume, MountPath: "/opt/warmbox", ReadOnly: true},
		},
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
	if r.spec.Handoff == sandbox.HandoffPrestart {
		box.Stdin = true // the attach stream's frames
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "warmbox-" + r.spec.Language + "-" + randomSuffix(),
			Namespace: r.c.opts.Namespace,
			Labels: map[string]string{
				LabelManagedBy: managedBy,
				LabelComponent: componentSandbox,
				LabelInstance:  r.c.opts.Instance,
				LabelLanguage:  r.spec.Language,
				LabelScope:     r.c.opts.Scope,
			},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &zero,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			Hostname:                      "sandbox",
			NodeSelector:                  r.c.opts.NodeSelector,
			Tolerations:                   r.c.opts.Tolerations,
			SecurityContext: &corev1.PodSecurityContext{
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			InitContainers: []corev1.Container{{
				Name:            "install-runner",
				Image:           r.c.opts.RunnerImage,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{RunnerImagePath, "install", "/opt/warmbox/runner"},
				Resources:       resources,
				SecurityContext: locked,
				VolumeMounts:    []corev1.VolumeMount{{Name: runnerVolume, MountPath: "/opt/warmbox"}},
			}},
			Containers: []corev1.Container{box},
			Volumes: []corev1.Volume{
				{Name: workVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
					Medium: corev1.StorageMediumMemory, SizeLimit: workSize}}},
				{Name: runnerVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
					Medium: corev1.StorageMediumMemory, SizeLimit: &runnerSize}}},
			},
		},
	}
	if r.spec.Runtime != "" {
		rc := r.spec.Runtime
		pod.Spec.RuntimeClassName = &rc
	}
	if r.c.owner != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*r.c.owner}
	}
	return pod
}

// command is the sandbox container's PID 1: the runner, idle (exec mode)
// or serving with the interpreter pre-started (prestart mode).
func (r *Runtime) command(runnerUID int) []string {
	if r.spec.Handoff != sandbox.HandoffPrestart {
		return wire.IdleCommand(runnerUID)
	}
	return wire.Serve{RunnerUID: runnerUID, Bootstrap: r.spec.Bootstrap, Preload: r.spec.Preload, ReadyOnHello: true,
		Env: r.spec.Env, Command: r.spec.Command}.Args()
}

// randomSuffix is 8 characters of a Pod name: 40 random bits in
// lowercase base32.
func randomSuffix() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}
