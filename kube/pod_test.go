package kube

import (
	"regexp"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/runner/wire"
	"github.com/warmbox/warmbox/sandbox"
)

func testRuntime(handoff string) *Runtime {
	c := &Cluster{opts: Options{Namespace: "ns", Instance: "inst", Scope: "replica-a", RunnerImage: "warmbox/warmbox:dev",
		NodeSelector: map[string]string{"pool": "sandbox"},
		Tolerations:  []corev1.Toleration{{Key: "warmbox.io/sandbox", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}},
		owner: &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "warmbox-a", UID: "uid-a"}}
	l := policy.DefaultLimits()
	return c.Sandboxes(sandbox.Spec{Language: "python", Image: "warmbox/python:bookworm", Limits: l, Handoff: handoff,
		Command: []string{"python3"}, Env: []string{"A=1"}, Bootstrap: "python", Runtime: "gvisor"})
}

// The sandbox Pod carries the whole policy Kubernetes can express; a
// field lost in a refactor would silently weaken every sandbox.
func TestPodSpecPolicy(t *testing.T) {
	r := testRuntime(sandbox.HandoffPrestart)
	p := r.podSpec(30000)
	s := p.Spec
	if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken must be false")
	}
	if s.EnableServiceLinks == nil || *s.EnableServiceLinks {
		t.Error("enableServiceLinks must be false")
	}
	if s.HostNetwork || s.HostPID || s.HostIPC || (s.ShareProcessNamespace != nil && *s.ShareProcessNamespace) {
		t.Error("no host namespaces, no shared process namespace")
	}
	if s.RestartPolicy != corev1.RestartPolicyNever || s.TerminationGracePeriodSeconds == nil || *s.TerminationGracePeriodSeconds != 0 {
		t.Error("restartPolicy Never, grace 0")
	}
	if s.RuntimeClassName == nil || *s.RuntimeClassName != "gvisor" {
		t.Errorf("runtimeClassName: got %v", s.RuntimeClassName)
	}
	if !regexp.MustCompile(`^warmbox-python-[a-z2-7]{8}$`).MatchString(p.Name) || p.GenerateName != "" {
		t.Errorf("name: got %q (generated %q), want warmbox-python- and 8 random characters chosen here", p.Name, p.GenerateName)
	}
	if len(s.Tolerations) != 1 || s.Tolerations[0].Key != "warmbox.io/sandbox" || s.NodeSelector["pool"] != "sandbox" {
		t.Errorf("placement: tolerations %+v node selector %v", s.Tolerations, s.NodeSelector)
	}
	if len(p.OwnerReferences) != 1 || p.OwnerReferences[0].UID != "uid-a" {
		t.Errorf("ownerReferences: got %+v", p.OwnerReferences)
	}
	for k, v := range map[string]string{LabelLanguage: "python", LabelInstance: "inst", LabelScope: "replica-a",
		LabelComponent: "sandbox", LabelManagedBy: "warmbox"} {
		if p.Labels[k] != v {
			t.Errorf("label %s: got %q, want %q", k, p.Labels[k], v)
		}
	}
	all := append(append([]corev1.Container{}, s.InitContainers...), s.Containers...)
	if len(all) != 2 {
		t.Fatalf("want one init container and one sandbox container, got %d", len(all))
	}
	for _, c := range all {
		sc := c.SecurityContext
		// The init container runs as nobody without capabilities; the
		// sandbox starts as root with exactly the runner's three, and
		// the runner drops to the Pod's uid block at once.
		uid, nonRoot, add := int64(65534), true, []corev1.Capability(nil)
		if c.Name == sandboxContainer {
			uid, nonRoot, add = 0, false, []corev1.Capability{"SETUID", "SETGID", "KILL"}
		}
		if sc == nil || *sc.RunAsUser != uid || *sc.RunAsGroup != uid || *sc.RunAsNonRoot != nonRoot || !*sc.ReadOnlyRootFilesystem ||
			*sc.AllowPrivilegeEscalation || *sc.Privileged || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
			!slices.Equal(sc.Capabilities.Add, add) || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("container %s: security context not locked down: %+v", c.Name, sc)
		}
		// Guaranteed QoS: limits equal requests for CPU and memory.
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			lim, req := c.Resources.Limits[res], c.Resources.Requests[res]
			if lim.IsZero() || lim.Cmp(req) != 0 {
				t.Errorf("container %s %s: limit %s request %s", c.Name, res, lim.String(), req.String())
			}
		}
	}
	sb := s.Containers[0]
	if mem := sb.Resources.Limits[corev1.ResourceMemory]; mem.Value() != policy.DefaultLimits().MemoryMB<<20 {
		t.Errorf("memory limit: got %s", mem.String())
	}
	if !sb.Stdin || sb.StdinOnce || sb.TTY {
		t.Error("prestart: stdin open for the attach stream, not once, no TTY")
	}
	var work, run *corev1.VolumeMount
	for i := range sb.VolumeMounts {
		switch sb.VolumeMounts[i].MountPath {
		case WorkDir:
			work = &sb.VolumeMounts[i]
		case "/opt/warmbox":
			run = &sb.VolumeMounts[i]
		}
	}
	if work == nil || run == nil || !run.ReadOnly || work.ReadOnly {
		t.Errorf("mounts: work dir writable, runner read-only: got %+v", sb.VolumeMounts)
	}
	for _, v := range s.Volumes {
		if v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory || v.EmptyDir.SizeLimit == nil {
			t.Errorf("volume %s: want a size-limited in-memory emptyDir, got %+v", v.Name, v.VolumeSource)
		}
		if v.Name == workVolume && v.EmptyDir.SizeLimit.Cmp(*resource.NewQuantity(policy.DefaultLimits().TmpfsMB<<20, resource.BinarySI)) != 0 {
			t.Errorf("work dir size: got %s", v.EmptyDir.SizeLimit.String())
		}
		if v.HostPath != nil {
			t.Errorf("volume %s is a host path", v.Name)
		}
	}
	want := []string{wire.MountPath, "serve", "--runner-uid", "30000", "--ready-on-hello", "--bootstrap", "python", "--env", "A=1", "--", "python3"}
	if !slices.Equal(sb.Command, want) {
		t.Errorf("command: got %q, want %q", sb.Command, want)
	}
}

func TestPodSpecExecMode(t *testing.T) {
	sb := testRuntime(sandbox.HandoffExec).podSpec(30000).Spec.Containers[0]
	if sb.Stdin {
		t.Error("exec mode: the sandbox's PID 1 needs no stdin")
	}
	if !slices.Equal(sb.Command, []string{wire.MountPath, "idle", "--runner-uid", "30000"}) {
		t.Errorf("command: got %q", sb.Command)
	}
}

func TestStartState(t *testing.T) {
	waiting := func(name, reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	}
	tests := []struct {
		name    string
		status  corev1.PodStatus
		running bool
		err     bool
	}{
		{"pending", corev1.PodStatus{Phase: corev1.PodPending}, false, false},
		{"init running", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting(sandboxContainer, "PodInitializing")}}, false, false},
		{"image missing", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting(sandboxContainer, "ErrImageNeverPull")}}, false, true},
		{"init failed", corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{{Name: "install-runner",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}}, false, true},
		{"running", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: sandboxContainer,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}, true, false},
		{"failed", corev1.PodStatus{Phase: corev1.PodFailed}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			running, err := startState(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: tc.status})
			if running != tc.running || (err != nil) != tc.err {
				t.Errorf("got running=%v err=%v, want running=%v err=%v", running, err, tc.running, tc.err)
			}
		})
	}
}

func TestPendingReason(t *testing.T) {
	p := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu."}}}}
	if got := pendingReason(p); got != "Unschedulable: 0/1 nodes are available: 1 Insufficient cpu." {
		t.Errorf("got %q", got)
	}
	p = &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "sandbox", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}}}
	if got := pendingReason(p); got != "sandbox PodInitializing" {
		t.Errorf("got %q", got)
	}
}
