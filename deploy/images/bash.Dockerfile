# Runtime image for hosts that can pull: bash and coreutils only.
FROM debian:bookworm-slim
LABEL io.warmbox.runtime=bash
