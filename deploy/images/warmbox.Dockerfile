# The warmbox daemon as a container, for docker-compose.yml. It drives
# the host's engine through the mounted Docker socket, so the runner's
# bind-mount source must be a HOST path: the compose file mounts the
# host's ./bin into /opt/warmbox/bin at the same path on both sides.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/warmbox-runner ./cmd/warmbox-runner \
 && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/warmbox ./cmd/warmbox

FROM debian:bookworm-slim
COPY --from=build /out/ /usr/local/bin/
USER 0
ENTRYPOINT ["/usr/local/bin/warmbox", "serve"]
