# The kedro-sfn GitHub Action's container (action.yml: runs.using docker, image Dockerfile),
# also published prebuilt to ghcr.io by .github/workflows/release.yml.
#
#   docker build -t kedro-sfn .
#   docker run --rm kedro-sfn --version           # any subcommand: plan, deploy, ...
#
# Stage 1 compiles the binary; stage 2 is Debian slim with the binary and only the tools it
# runs: the docker CLI and buildx (image build and push, through the runner's Docker socket),
# git (the image tag names the commit), Python with pip and venv (the project's wheel and
# Kedro for the export) and CA certificates (AWS, ECR, PyPI over TLS).

# --- Stage 1: build ---------------------------------------------------------------------
FROM rust:1.95.0-bookworm AS build
WORKDIR /src

# Dependencies first, in their own layer, so that a change to kedro-sfn's own code does not
# recompile the AWS SDK: build the real Cargo.toml and Cargo.lock against stub sources.
# Cargo parses every target the manifest declares, so the two [[bench]] targets
# (benches/plan.rs, benches/deploy.rs) get stubs too.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && : > src/lib.rs \
    && echo 'fn main() {}' > benches/plan.rs \
    && echo 'fn main() {}' > benches/deploy.rs \
    && cargo build --release --locked --bin kedro-sfn \
    && rm -rf src benches \
        target/release/kedro-sfn target/release/kedro-sfn.d \
        target/release/.fingerprint/kedro-sfn-* \
        target/release/deps/kedro_sfn-* target/release/deps/libkedro_sfn-*

# The crate itself. include_str! embeds python/kedro_sfn_*.py and src/image/Dockerfile.in,
# so python/ is needed at compile time. The stubs' build records are removed above, so
# cargo cannot take the stubs for these sources whatever their timestamps.
COPY src ./src
COPY python ./python
COPY benches ./benches
RUN cargo build --release --locked --bin kedro-sfn \
    && install -m 0755 target/release/kedro-sfn /usr/local/bin/kedro-sfn \
    && /usr/local/bin/kedro-sfn --version

# --- Stage 2: the action ----------------------------------------------------------------
FROM debian:bookworm-slim

# Docker's own apt repository keeps every release, so these pins stay installable. Bump
# both together; the builder of `kedro-sfn image build` is `docker buildx build`.
ARG DOCKER_CLI_VERSION=5:28.2.2-1~debian.12~bookworm
ARG DOCKER_BUILDX_VERSION=0.24.0-1~debian.12~bookworm

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Debian's own packages are not pinned (DL3008): a Debian mirror serves only the current
# version of each package in bookworm, so a pinned version stops installing at the next
# point release or security update. The base image tag fixes the release instead.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && install -m 0755 -d /etc/apt/keyrings \
    && curl -fsSL https://download.docker.com/linux/debian/gpg -o /etc/apt/keyrings/docker.asc \
    && chmod a+r /etc/apt/keyrings/docker.asc \
    && echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian bookworm stable" \
        > /etc/apt/sources.list.d/docker.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        "docker-ce-cli=${DOCKER_CLI_VERSION}" \
        "docker-buildx-plugin=${DOCKER_BUILDX_VERSION}" \
        git \
        python3 \
        python3-pip \
        python3-venv \
    && apt-get purge -y --auto-remove curl \
    && rm -rf /var/lib/apt/lists/*

# GitHub mounts the workspace owned by the runner's user (uid 1001) while the action runs as
# root (below): without this, git refuses the repository ("detected dubious ownership") and
# the image tag would lose its commit.
RUN git config --system --add safe.directory '*'

ENV KEDRO_DISABLE_TELEMETRY=true \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1

COPY --from=build /usr/local/bin/kedro-sfn /usr/local/bin/kedro-sfn

LABEL org.opencontainers.image.title="kedro-sfn" \
      org.opencontainers.image.description="Plan and deploy a Kedro project to AWS Step Functions" \
      org.opencontainers.image.licenses="Apache-2.0"

# No USER: the action runs as root, as GitHub's docs ask of Docker actions. The runner starts
# the container with `docker run` and no --user, mounts /var/run/docker.sock (owned by root
# and the host's docker group, whose gid differs between runner images and is unknown when
# this image is built) and mounts the workspace and $GITHUB_OUTPUT/$GITHUB_STEP_SUMMARY
# owned by the runner's uid 1001. A fixed non-root user could reach neither the socket nor
# those files. Off GitHub, run it unprivileged with
#   docker run --user "$(id -u):$(id -g)" --group-add "$(stat -c %g /var/run/docker.sock)" ...
# Files the action writes into the workspace are owned by root; later steps can read them.
ENTRYPOINT ["/usr/local/bin/kedro-sfn"]
# `uses: docker://...` passes no arguments unless the step sets with.args: run the action.
CMD ["action"]
