# persistence_exporter container image.
#
#   docker build -t persistence-exporter \
#     --build-arg REVISION="$(git rev-parse --short=12 HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#
# Two stages: `build` compiles the crate in a Rust image, the final stage is a
# distroless image with the binary, run as the unprivileged uid/gid 65532. Both
# base images are build arguments, so the image can be built from local or mirrored
# images (see "Running in Docker" in README.md):
#
#   BUILDER_IMAGE    any image with cargo and a C toolchain (the `ring` crate) on
#                    glibc; with PREBUILT_BINARY set, any image with a POSIX shell.
#   RUNTIME_IMAGE    any glibc image providing libc, libm and libgcc_s, CA
#                    certificates and the uid 65532 (distroless cc has all of it).
#   PREBUILT_BINARY  empty (default): compile from the build context (the repo root).
#                    A path inside the build context: take that already-built
#                    binary as is instead (CI uses this; tests/it/image.rs).
#
# The file deliberately uses only instructions the classic builder understands (no
# `# syntax=`, no `RUN --mount`, no `COPY --chmod`): the classic builder and BuildKit
# both build it, also on hosts where no registry is reachable.
#
# Health: the image contains no shell and no HTTP client, so there is no
# HEALTHCHECK instruction. Probe `GET /-/healthy` (liveness) and `GET /-/ready`
# (readiness) on port 9631 from the orchestrator (Kubernetes httpGet probes), and
# alert on Prometheus' `up{job="persistence_exporter"}` (alerts/health.yml).

ARG BUILDER_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# --------------------------------------------------------------------------------
FROM ${BUILDER_IMAGE} AS build
ARG PREBUILT_BINARY=
# The context has no .git: build.rs takes the revision from here for build_info.
ARG REVISION=unknown
WORKDIR /src
# .dockerignore keeps target/, .git/ and everything not needed to compile out.
COPY . .
RUN set -eu; \
    if [ -n "${PREBUILT_BINARY}" ]; then \
        echo "using the prebuilt binary ${PREBUILT_BINARY} from the build context"; \
        cp "${PREBUILT_BINARY}" /persistence_exporter; \
    else \
        PE_GIT_REVISION="${REVISION}" cargo build --release --locked --bin persistence_exporter; \
        cp target/release/persistence_exporter /persistence_exporter; \
        rm -rf target; \
    fi; \
    chmod 0755 /persistence_exporter

# --------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
ARG RUNTIME_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=
LABEL org.opencontainers.image.title="persistence_exporter" \
      org.opencontainers.image.description="Prometheus exporter that checks PostgreSQL, Redis and Docker volume persistence against declared intent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"

COPY --from=build /persistence_exporter /usr/local/bin/persistence_exporter

# Numeric, so Kubernetes' runAsNonRoot can verify it without an /etc/passwd lookup.
# Docker socket access: add the socket's group at run time
# (`--group-add "$(stat -c %g /var/run/docker.sock)"`), never run as root.
USER 65532:65532
EXPOSE 9631
ENTRYPOINT ["/usr/local/bin/persistence_exporter"]
