# Runtime image for hosts that can pull: the interpreter only. The runner
# is bind-mounted at run time. Offline hosts use deploy/host/images.sh,
# which builds the same content from Debian's packages.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
LABEL io.warmbox.runtime=python
