# Runtime image for hosts that can pull: the interpreter only (Debian's
# Node.js 18, as deploy/host/images.sh builds offline).
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/*
LABEL io.warmbox.runtime=node
