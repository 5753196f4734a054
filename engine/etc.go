package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// The name files every sandbox reads. A sandbox's container has the
// network disabled (Config.NetworkDisabled): it still gets a network
// namespace of its own with only lo, but Docker then writes neither
// /etc/hosts nor /etc/resolv.conf (the init layer leaves them empty), and
// it skips the libnetwork-setkey prestart hook, a re-exec of dockerd that
// cost this host about a third of a sandbox's create (docs/DESIGN.md
// "Sandbox creates: the network disabled, not set to none"). warmbox
// mounts these two read-only instead: the loopback names, and a resolver
// on loopback where nothing listens.
var sandboxEtcFiles = []struct {
	name, target, content string
}{
	// The lines Docker writes for a container with network mode none.
	{"hosts", "/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"},
	{"resolv.conf", "/etc/resolv.conf", "nameserver 127.0.0.1\n"},
}

// etcMountPath is where the helper container mounts the volume to fill it.
const etcMountPath = "/warmbox-etc"

// sandboxEtc holds the volume that keeps the name files on the engine's
// host: the engine bind-mounts them from its own file system, so they
// exist wherever the engine is, whether the daemon runs on that host or
// in a container of its own.
type sandboxEtc struct {
	mu sync.Mutex
	// dir is the volume's directory on the engine's host, "" until
	// filled (and again after a create found it gone).
	dir string
	// removed is set by the final Reap: a create still in flight then
	// fails instead of filling the volume again.
	removed bool
}

// errEngineReaped refuses a create that comes after the final Reap.
var errEngineReaped = errors.New("the engine adapter has removed its sandboxes for good (shutdown)")

var volumeNameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

// etcVolumeName is the scope's volume: one per scope, so that daemons of
// different scopes never fill a volume the other's sandboxes read.
func (e *Engine) etcVolumeName() string {
	return "warmbox-etc-" + volumeNameUnsafe.ReplaceAllString(e.opts.Scope, "_")
}

// etcMounts returns the read-only mounts of the name files, filling the
// scope's volume first if this daemon has not yet. image is any image
// the engine holds (the filling container is created, never started).
func (e *Engine) etcMounts(ctx context.Context, image string) ([]mount.Mount, error) {
	e.etc.mu.Lock()
	defer e.etc.mu.Unlock()
	if e.etc.removed {
		return nil, errEngineReaped
	}
	if e.etc.dir == "" {
		dir, err := e.fillEtcVolume(ctx, image)
		if err != nil {
			return nil, fmt.Errorf("sandbox name files: %w", err)
		}
		e.etc.dir = dir
	}
	mounts := make([]mount.Mount, 0, len(sandboxEtcFiles))
	for _, f := range sandboxEtcFiles {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: path.Join(e.etc.dir, f.name), Target: f.target, ReadOnly: true})
	}
	return mounts, nil
}

// errEtcGone marks a create that failed because the name files were
// gone from the engine's host: Create tries once more, and the next
// create writes them again.
var errEtcGone = errors.New("the sandboxes' name files are gone from the engine")

// checkEtcGone makes the next create fill the volume again when err
// says a name file is missing (someone removed the volume, e.g. docker
// volume prune while no sandbox ran); it then wraps err in errEtcGone.
func (e *Engine) checkEtcGone(err error) error {
	if err == nil {
		return nil
	}
	e.etc.mu.Lock()
	defer e.etc.mu.Unlock()
	if e.etc.dir == "" || !strings.Contains(err.Error(), e.etc.dir) {
		return err
	}
	e.logger.Warn("the sandboxes' name files are gone from the engine; writing them again", "dir", e.etc.dir, "err", err)
	e.etc.dir = ""
	return fmt.Errorf("%w: %w", errEtcGone, err)
}

// removeEtcVolume removes the scope's volume for good: a create that
// comes later fails (errEngineReaped) rather than fill it again.
func (e *Engine) removeEtcVolume(ctx context.Context) error {
	e.etc.mu.Lock()
	defer e.etc.mu.Unlock()
	e.etc.dir, e.etc.removed = "", true
	err := e.cli.VolumeRemove(ctx, e.etcVolumeName(), false)
	if err != nil && !client.IsErrNotFound(err) {
		return fmt.Errorf("remove volume %s: %w", e.etcVolumeName(), err)
	}
	return nil
}

// fillEtcVolume creates the scope's volume (or finds it) and writes the
// name files into it through a container that is created and never
// started, then removed. It returns the volume's directory on the
// engine's host.
func (e *Engine) fillEtcVolume(ctx context.Context, image string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, createTimeout)
	defer cancel()
	vol, err := e.cli.VolumeCreate(ctx, volume.CreateOptions{
		Name:   e.etcVolumeName(),
		Labels: map[string]string{LabelManagedBy: managedBy, LabelScope: e.opts.Scope},
	})
	if err != nil {
		return "", fmt.Errorf("volume create: %w", err)
	}
	if vol.Mountpoint == "" {
		return "", fmt.Errorf("volume %s has no directory on the engine's host (driver %q; warmbox needs the local driver)", vol.Name, vol.Driver)
	}
	cfg := &container.Config{
		Image:      image,
		Entrypoint: []string{},
		Cmd:        []string{"true"},
		Labels: map[string]string{
			LabelManagedBy: managedBy,
			LabelInstance:  e.opts.Instance,
			LabelScope:     e.opts.Scope,
		},
		NetworkDisabled: true,
	}
	host := &container.HostConfig{
		NetworkMode: "none",
		LogConfig:   container.LogConfig{Type: "none"},
		Mounts:      []mount.Mount{{Type: mount.TypeVolume, Source: vol.Name, Target: etcMountPath}},
	}
	resp, err := e.cli.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		return "", fmt.Errorf("container create: %w", err)
	}
	archive, err := etcArchive()
	if err == nil {
		err = e.cli.CopyToContainer(ctx, resp.ID, etcMountPath, archive, container.CopyToContainerOptions{})
		if err != nil {
			err = fmt.Errorf("copy into volume %s: %w", vol.Name, err)
		}
	}
	if err := errors.Join(err, e.remove(ctx, resp.ID)); err != nil {
		return "", err
	}
	return vol.Mountpoint, nil
}

// etcArchive is the tar stream of the name files: root's, read-only.
func etcArchive() (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range sandboxEtcFiles {
		hdr := &tar.Header{Name: f.name, Mode: 0o444, Size: int64(len(f.content)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(f.content)); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}
