package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/engine"
	"github.com/warmbox/warmbox/kube"
	"github.com/warmbox/warmbox/pool"
	"github.com/warmbox/warmbox/sandbox"
)

// backend is what the daemon needs of the place sandboxes run: the
// Docker engine or a Kubernetes cluster. The pools and the dispatcher
// only see each language's dispatch.Runtime.
type backend[S pool.Sandbox] interface {
	// Ping reports whether the engine or API server answers (/health).
	Ping(ctx context.Context) error
	// Reap removes the sandboxes of this scope that this instance does
	// not own, or all of them; it returns how many it removed.
	Reap(ctx context.Context, all bool) (int, error)
	// Watch calls died with the id of every sandbox of this instance
	// that stops, until ctx ends.
	Watch(ctx context.Context, died func(id string))
	// Runtime is one language's runtime.
	Runtime(name string, l LanguageConfig) dispatch.Runtime[S]
	// Packages lists what image holds ("name=version"), when the backend
	// can tell; nil otherwise.
	Packages(image string) []string
	Close() error
}

// dockerBackend runs sandboxes as containers of one Docker engine.
type dockerBackend struct {
	*engine.Engine
	images map[string]engine.Image // by reference, inspected at start
}

func newDockerBackend(ctx context.Context, cfg Config, instance string, logger *slog.Logger) (dockerBackend, error) {
	runnerPath, err := ResolveRunner(cfg.Engine.RunnerPath)
	if err != nil {
		return dockerBackend{}, err
	}
	eng, err := engine.New(engine.Options{
		Host: cfg.Engine.Host, RunnerPath: runnerPath, Instance: instance, Scope: cfg.Engine.Scope, Logger: logger,
	})
	if err != nil {
		return dockerBackend{}, err
	}
	if err := eng.Ping(ctx); err != nil {
		eng.Close()
		return dockerBackend{}, fmt.Errorf("no Docker engine answers (%w); start one, e.g. with deploy/host/engine.sh", err)
	}
	images, err := checkEngine(ctx, eng, cfg, logger)
	if err != nil {
		eng.Close()
		return dockerBackend{}, err
	}
	return dockerBackend{eng, images}, nil
}

func (b dockerBackend) Packages(image string) []string { return b.images[image].Packages }

func (b dockerBackend) Runtime(name string, l LanguageConfig) dispatch.Runtime[*engine.Container] {
	return b.Sandboxes(l.Spec(name))
}

// Spec is the sandbox spec of language name, on either backend: the one
// definition the daemon and the bench's baselines build sandboxes from.
func (l LanguageConfig) Spec(name string) sandbox.Spec {
	return sandbox.Spec{
		Language: name, Image: l.Image, Runtime: l.Runtime, Limits: l.Limits,
		Handoff: l.Handoff, Command: l.Command, Env: l.Env, Bootstrap: l.Bootstrap,
		Preload: l.Preload, ExecWorkDir: l.ExecWorkDir,
	}
}

// DispatchLanguage is what the dispatcher knows of language name.
func (l LanguageConfig) DispatchLanguage(name string) dispatch.Language {
	return dispatch.Language{
		Name: name, Image: l.Image, Runtime: l.Runtime, Handoff: l.Handoff, Command: l.Command,
		File: l.File, Env: l.Env, Limits: l.Limits, Pool: l.Pool, VersionCode: l.VersionCode,
		Compile: l.Compile, Preload: l.Preload, Bootstrap: l.Bootstrap,
	}
}

// checkEngine fails closed on what the configuration needs but the
// engine lacks: an image (warmbox never pulls) or a runtime such as runsc
// (never a silent fallback to runc).
// It returns what it learnt of each image.
func checkEngine(ctx context.Context, eng *engine.Engine, cfg Config, logger *slog.Logger) (map[string]engine.Image, error) {
	info, err := eng.Info(ctx)
	if err != nil {
		return nil, err
	}
	// Admission: every sandbox of every pool at its memory limit must fit
	// in the host, or one tenant's memory bomb becomes everyone's OOM.
	var worst int64
	for _, name := range sortedLanguages(cfg) {
		l := cfg.Languages[name]
		worst += int64(l.Pool.MaxSize) * (l.Limits.SandboxMemoryMB() + l.Limits.ShmMB + int64(cfg.Pools.SandboxMemoryMB)) << 20
	}
	if info.MemTotal > 0 && worst > info.MemTotal {
		logger.Warn("the pools at max_size could use more memory than the host has; lower max_size or memory_mb",
			"worst_case_mb", worst>>20, "host_mb", info.MemTotal>>20)
	}
	var errs []error
	images := map[string]engine.Image{}
	for _, name := range sortedLanguages(cfg) {
		l := cfg.Languages[name]
		img, err := eng.Image(ctx, l.Image)
		if err != nil {
			errs = append(errs, fmt.Errorf("languages.%s: %w", name, err))
		}
		images[l.Image] = img
		if l.Runtime != "" && !slices.Contains(info.Runtimes, l.Runtime) {
			errs = append(errs, fmt.Errorf("languages.%s.runtime: the engine has no %q runtime (it has %v); install it or remove the setting", name, l.Runtime, info.Runtimes))
		}
	}
	return images, errors.Join(errs...)
}

// kubeBackend runs sandboxes as Pods of a Kubernetes cluster.
type kubeBackend struct{ *kube.Cluster }

func newKubeBackend(ctx context.Context, cfg Config, instance string, logger *slog.Logger) (kubeBackend, error) {
	k := cfg.Kubernetes
	c, err := kube.New(ctx, kube.Options{
		Kubeconfig: k.Kubeconfig, Namespace: k.Namespace, Instance: instance, Scope: cfg.Engine.Scope,
		OwnerPod: k.OwnerPod, RunnerImage: k.RunnerImage, NodeSelector: k.NodeSelector,
		Tolerations: tolerations(k.Tolerations), Logger: logger,
	})
	if err != nil {
		return kubeBackend{}, err
	}
	v, err := c.Version(ctx)
	if err != nil {
		return kubeBackend{}, fmt.Errorf("no Kubernetes API server answers (%w); check kubernetes.kubeconfig or the in-cluster service account", err)
	}
	logger.Info("kubernetes backend", "server", v, "namespace", k.Namespace, "owner_pod", k.OwnerPod)
	if err := checkRuntimeClasses(ctx, c, cfg); err != nil {
		return kubeBackend{}, err
	}
	return kubeBackend{c}, nil
}

// checkRuntimeClasses applies the gVisor rules to every language with a
// RuntimeClass whose handler is runsc, whatever the class is called, and
// fails closed on a class it cannot read.
func checkRuntimeClasses(ctx context.Context, c *kube.Cluster, cfg Config) error {
	var errs []error
	for _, name := range sortedLanguages(cfg) {
		l := cfg.Languages[name]
		if l.Runtime == "" {
			continue
		}
		handler, err := c.RuntimeHandler(ctx, l.Runtime)
		if err != nil {
			errs = append(errs, fmt.Errorf("languages.%s.runtime: %w (the daemon reads the class to learn its handler: create it, and grant get on runtimeclasses.node.k8s.io as deploy/kubernetes/rbac.yaml does)", name, err))
			continue
		}
		if handler == "runsc" {
			if err := l.checkGVisorReuse(fmt.Sprintf("RuntimeClass %s (handler runsc)", l.Runtime)); err != nil {
				errs = append(errs, fmt.Errorf("languages.%s.%w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func tolerations(ts []TolerationConfig) []corev1.Toleration {
	var out []corev1.Toleration
	for _, t := range ts {
		out = append(out, corev1.Toleration{Key: t.Key, Operator: corev1.TolerationOperator(t.Operator),
			Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	return out
}

// Packages: a Pod's image cannot be inspected through the API server.
func (b kubeBackend) Packages(string) []string { return nil }

func (b kubeBackend) Runtime(name string, l LanguageConfig) dispatch.Runtime[*kube.Pod] {
	return b.Sandboxes(l.Spec(name))
}

func (kubeBackend) Close() error { return nil }
