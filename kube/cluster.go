package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/warmbox/warmbox/internal/held"
	"github.com/warmbox/warmbox/internal/uids"
)

// Labels every sandbox Pod carries.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelComponent = "app.kubernetes.io/component"
	LabelInstance  = "warmbox.io/instance"
	LabelLanguage  = "warmbox.io/language"
	LabelScope     = "warmbox.io/scope"
	managedBy      = "warmbox"
	// componentSandbox is what the shipped NetworkPolicy selects.
	componentSandbox = "sandbox"
)

// Per-call timeouts: no API call may hang the daemon.
const (
	callTimeout       = 10 * time.Second
	deleteTimeout     = 30 * time.Second
	reconcileInterval = 30 * time.Second
)

// Options configure the backend.
type Options struct {
	// Kubeconfig is a kubeconfig file; empty means the in-cluster config
	// (the daemon runs in a Pod with a service account).
	Kubeconfig string
	// Namespace holds the sandbox Pods.
	Namespace string
	// Instance identifies this daemon process; its Pods carry it.
	Instance string
	// Scope names the replica: at start and shutdown it deletes the
	// sandbox Pods of its scope that it does not own. Each replica needs
	// its own scope (the shipped Deployment uses the Pod's name).
	Scope string
	// OwnerPod, if set, is the replica's own Pod in Namespace: every
	// sandbox names it in ownerReferences, so the garbage collector
	// deletes the sandboxes of a replica whose Pod is gone.
	OwnerPod string
	// RunnerImage holds the static runner at RunnerImagePath; an init
	// container copies it into each sandbox.
	RunnerImage string
	// NodeSelector and Tolerations place sandboxes on sandbox nodes.
	NodeSelector map[string]string
	Tolerations  []corev1.Toleration
	Logger       *slog.Logger
}

// Cluster talks to one Kubernetes API server.
type Cluster struct {
	cs     kubernetes.Interface
	rest   *rest.Config
	opts   Options
	owner  *metav1.OwnerReference
	logger *slog.Logger

	// held are the Pods the pools hold or are creating (claimed before
	// the create call, confirmed once the API server has them, released
	// before the delete). Reconcile deletes this instance's Pods that
	// are not held and reports the held ones the API server lost.
	held *held.Set
	// blocks are the live sandboxes' uid blocks (one each).
	blocks *uids.Blocks

	mu   sync.Mutex
	died func(name string) // Watch's callback, once it runs
}

// lost reports a sandbox that can no longer serve to Watch's callback.
func (c *Cluster) lost(name string) {
	c.mu.Lock()
	died := c.died
	c.mu.Unlock()
	c.logger.Warn("a sandbox's attach stream ended; replacing it", "pod", name)
	if died != nil {
		died(name)
	}
}

// New connects to the cluster and, when OwnerPod is set, looks up the
// owner's UID (the garbage collector matches owners by UID).
func New(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Instance == "" || opts.Scope == "" || opts.Namespace == "" {
		return nil, errors.New("kube: instance id, scope and namespace are required")
	}
	if opts.RunnerImage == "" {
		return nil, errors.New("kube: the runner image is required")
	}
	var cfg *rest.Config
	var err error
	if opts.Kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", opts.Kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kube: client config: %w", err)
	}
	// The pools create and delete in bursts; the client's default of 5
	// requests/s would queue a refill behind itself.
	cfg.QPS, cfg.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: client: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// client-go logs through klog: into the daemon's JSON log, not raw
	// text on stderr.
	klog.SetSlogLogger(logger)
	c := &Cluster{cs: cs, rest: cfg, opts: opts, logger: logger, held: held.New(), blocks: uids.New()}
	if opts.OwnerPod != "" {
		getCtx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		p, err := cs.CoreV1().Pods(opts.Namespace).Get(getCtx, opts.OwnerPod, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("kube: the owner pod %s/%s: %w", opts.Namespace, opts.OwnerPod, err)
		}
		c.owner = &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: p.Name, UID: p.UID}
	}
	return c, nil
}

// Ping reports whether the API server answers.
func (c *Cluster) Ping(ctx context.Context) error {
	_, err := c.Version(ctx)
	return err
}

// Version returns the API server's version, e.g. "v1.37.2".
func (c *Cluster) Version(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	raw, err := c.cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", fmt.Errorf("kubernetes api: %w", err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("kubernetes api /version: %w", err)
	}
	return v.GitVersion, nil
}

// RuntimeHandler is the handler of RuntimeClass name: the runtime its
// Pods run under on the nodes ("runsc" for gVisor), whatever the class
// is called. Reading it needs get on runtimeclasses.node.k8s.io
// (deploy/kubernetes/rbac.yaml).
func (c *Cluster) RuntimeHandler(ctx context.Context, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	rc, err := c.cs.NodeV1().RuntimeClasses().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("RuntimeClass %s: %w", name, err)
	}
	return rc.Handler, nil
}

func (c *Cluster) pods() typedcorev1.PodInterface { return c.cs.CoreV1().Pods(c.opts.Namespace) }

func (c *Cluster) selector(extra map[string]string) string {
	set := labels.Set{LabelManagedBy: managedBy, LabelComponent: componentSandbox}
	for k, v := range extra {
		set[k] = v
	}
	return labels.SelectorFromSet(set).String()
}

// Reap deletes every sandbox Pod of this scope except those of this
// instance, or all of them when all is true, and returns how many it
// deleted. Called at start (leftovers of an earlier process of this
// replica) and at shutdown.
func (c *Cluster) Reap(ctx context.Context, all bool) (int, error) {
	listCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	list, err := c.pods().List(listCtx, metav1.ListOptions{LabelSelector: c.selector(map[string]string{LabelScope: c.opts.Scope})})
	if err != nil {
		return 0, fmt.Errorf("reap list: %w", err)
	}
	removed := 0
	var errs []error
	for _, p := range list.Items {
		if !all && p.Labels[LabelInstance] == c.opts.Instance {
			continue
		}
		if err := c.remove(ctx, p.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// remove deletes a Pod at once (grace period 0); one already gone is
// success.
func (c *Cluster) remove(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	zero := int64(0)
	err := c.pods().Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s: %w", name, err)
	}
	return nil
}

// Watch follows this instance's sandbox Pods and calls died with the
// name of every one that stops running or is deleted by someone else. It
// re-lists on every (re)connect and every reconcileInterval, deleting
// the Pods that ended while nobody watched, until ctx ends.
func (c *Cluster) Watch(ctx context.Context, died func(name string)) {
	c.mu.Lock()
	c.died = died
	c.mu.Unlock()
	backoff := 100 * time.Millisecond
	relist := time.NewTicker(reconcileInterval)
	defer relist.Stop()
	sel := c.selector(map[string]string{LabelInstance: c.opts.Instance})
	for ctx.Err() == nil {
		rv := c.reconcile(ctx, sel, died)
		var events <-chan watch.Event
		w, err := c.pods().Watch(ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() == nil {
				c.logger.Warn("kubernetes pod watch failed; retrying", "err", err, "backoff", backoff)
			}
		} else {
			events = w.ResultChan()
		}
	stream:
		for events != nil {
			select {
			case <-ctx.Done():
				w.Stop()
				return
			case <-relist.C:
				c.reconcile(ctx, sel, died)
			case ev, ok := <-events:
				if !ok {
					break stream
				}
				backoff = 100 * time.Millisecond
				p, isPod := ev.Object.(*corev1.Pod)
				if !isPod {
					continue // bookmark or error status: re-list if it closes
				}
				switch {
				case ev.Type == watch.Deleted:
					died(p.Name)
				case (ev.Type == watch.Modified || ev.Type == watch.Added) && ended(p):
					// Added: a watch started without a resource version
					// (the list failed) replays the Pods that exist.
					died(p.Name)
					c.removeInBackground(ctx, p.Name)
				}
			}
		}
		if w != nil {
			w.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// reconcile lists this instance's Pods and returns the list's resource
// version ("" when listing failed). It deletes the Pods that ended
// (calling died first) and the Pods no pool holds (orphans: a delete or
// a create that failed while the API server was unwell), and calls died
// for the live Pods the API server no longer has (deleted while the
// watch was down), so the pools do not keep phantoms.
func (c *Cluster) reconcile(ctx context.Context, sel string, died func(string)) string {
	listed := time.Now()
	listCtx, cancel := context.WithTimeout(ctx, callTimeout)
	list, err := c.pods().List(listCtx, metav1.ListOptions{LabelSelector: sel})
	cancel()
	if err != nil {
		c.logger.Debug("reconcile: listing sandbox pods failed", "err", err)
		return ""
	}
	names := make(map[string]bool, len(list.Items))
	for i := range list.Items {
		p := &list.Items[i]
		names[p.Name] = true
		switch {
		case ended(p):
			died(p.Name)
			c.removeInBackground(ctx, p.Name)
		case !c.held.Holds(p.Name):
			c.logger.Warn("deleting a sandbox pod no pool holds", "pod", p.Name)
			c.removeInBackground(ctx, p.Name)
		}
	}
	for _, name := range c.held.Missing(listed, names) {
		c.logger.Warn("a sandbox pod is gone from the API server; replacing it", "pod", name)
		died(name)
	}
	return list.ResourceVersion
}

// removeInBackground deletes a Pod without holding up the event loop (a
// delete may take up to deleteTimeout while the API is slow).
func (c *Cluster) removeInBackground(ctx context.Context, name string) {
	go func() {
		if err := c.remove(ctx, name); err != nil {
			c.logger.Warn("deleting a sandbox pod failed", "pod", name, "err", err)
		}
	}()
}

// ended reports whether a sandbox Pod can no longer serve: it is being
// deleted, its phase is final, or its sandbox container terminated.
func ended(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		return true
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == sandboxContainer && s.State.Terminated != nil {
			return true
		}
	}
	return false
}
