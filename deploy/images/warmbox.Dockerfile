# The warmbox daemon as a container: static warmbox and warmbox-runner on
# an empty base, for hosts that can pull golang. Offline hosts get the same
# content from deploy/kubernetes/testbed.sh images (warmbox/warmbox:dev).
#
# docker-compose.yml: the daemon drives the host's engine through the
# mounted Docker socket, so it runs as root there (the default here), and
# the runner's bind-mount source must be a HOST path: the compose file
# mounts the host's ./bin into /opt/warmbox/bin at the same path on both
# sides. Kubernetes: run it as nobody (runAsUser: 65534).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/usr/local/bin/warmbox-runner ./cmd/warmbox-runner \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/usr/local/bin/warmbox ./cmd/warmbox \
 && mkdir -p /out/etc /out/tmp && chmod 1777 /out/tmp \
 && printf 'root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' > /out/etc/passwd \
 && printf 'root:x:0:\nnogroup:x:65534:\n' > /out/etc/group

FROM scratch
COPY --from=build /out/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin
ENTRYPOINT ["/usr/local/bin/warmbox", "serve"]
