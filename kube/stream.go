package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/klog/v2"

	"github.com/warmbox/warmbox/runner/wire"
)

// stream is an open pods/attach (prestart) or pods/exec session with a
// runner: frames go out on its stdin and come back on its stdout (see
// wire.Conn).
type stream struct {
	*wire.Conn
	stdin   *io.PipeWriter
	frames  *io.PipeReader
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
	closing atomic.Bool
}

// open starts a session on the Pod's sandbox container; sub is "attach"
// or "exec" (with command). It goes over WebSocket, falling back to SPDY
// only when the upgrade itself fails (an old API server, or a proxy that
// does not pass WebSocket). ended, if not nil, is called when the session
// ends by itself (not by close): the API server or the kubelet dropped
// it, or the runner exited.
func (c *Cluster) open(pod, sub string, command []string, ended func()) (*stream, error) {
	req := c.cs.CoreV1().RESTClient().Post().Namespace(c.opts.Namespace).Resource("pods").Name(pod).SubResource(sub)
	if sub == "exec" {
		req.VersionedParams(&corev1.PodExecOptions{Container: sandboxContainer, Command: command,
			Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	} else {
		req.VersionedParams(&corev1.PodAttachOptions{Container: sandboxContainer,
			Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	}
	ws, err := remotecommand.NewWebSocketExecutor(c.rest, http.MethodGet, req.URL().String())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", wire.ErrNotStarted, sub, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(c.rest, http.MethodPost, req.URL())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", wire.ErrNotStarted, sub, err)
	}
	exe, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", wire.ErrNotStarted, sub, err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	// The session's own failures come back as StreamWithContext's error;
	// its log would only add "Websocket Ping failed" noise, on stderr,
	// for every session this side closes (client-go's heartbeat stops
	// only on a close from the far end).
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logr.Discard()))
	s := &stream{stdin: inW, frames: outR, cancel: cancel, done: make(chan struct{})}
	s.Conn = wire.NewConn(inW, outR, inW.Close, s.close)
	go func() {
		defer close(s.done)
		err := exe.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: inR, Stdout: outW, Stderr: s.Stderr()})
		if err == nil {
			err = io.EOF
		}
		outW.CloseWithError(err)
		inR.CloseWithError(err)
		if ended != nil && !s.closing.Load() {
			ended()
		}
	}()
	return s, nil
}

// close ends the session.
func (s *stream) close() {
	s.once.Do(func() {
		s.closing.Store(true)
		s.cancel()
		s.stdin.CloseWithError(io.ErrClosedPipe)
		s.frames.CloseWithError(io.ErrClosedPipe)
	})
}

// wait closes the session and waits for it to end.
func (s *stream) wait() {
	s.close()
	<-s.done
}
