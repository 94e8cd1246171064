# Genesis sandbox template: every toolchain of the other templates (Python,
# Rust, C++, Go) and every language plugin that is available, for runs that
# mix languages or try one before building a lean template.
# Build and register it with `genesis e2b template build genesis-full`.
FROM python:3.11-slim-bookworm

ARG GO_VERSION=1.22.5
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \
    GOPATH=/usr/local/gopath GOCACHE=/tmp/go-build GOTOOLCHAIN=local

RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap procps ca-certificates curl tar gzip \
      build-essential g++ clang libomp-dev cmake pkg-config \
 && rm -rf /var/lib/apt/lists/*

RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
      | sh -s -- -y --profile minimal --default-toolchain stable --no-modify-path \
 && chmod -R a+rwX /usr/local/rustup /usr/local/cargo

RUN curl -sSfL "https://go.dev/dl/go${GO_VERSION}.linux-amd64.tar.gz" | tar -xz -C /usr/local \
 && mkdir -p /usr/local/gopath && chmod -R a+rwX /usr/local/gopath

COPY wheels /opt/genesis/wheels
RUN pip install --find-links /opt/genesis/wheels "genesis-core>=0.1,<0.2" "genesis-lang-rust>=0.1,<0.2" "genesis-lang-cpp>=0.1,<0.2" \
 && (pip install --find-links /opt/genesis/wheels "genesis-lang-go>=0.1,<0.2" \
     || echo "genesis-lang-go is not available: the template has the Go toolchain but no Go language plugin")

# E2B runs commands as `bash -l -c CMD`, and a login shell resets PATH from
# /etc/profile: this script puts the toolchains back.
RUN printf '%s\n' \
      'export RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo' \
      'export GOPATH=/usr/local/gopath GOCACHE=/tmp/go-build GOTOOLCHAIN=local' \
      'export PATH="/usr/local/cargo/bin:/usr/local/go/bin:/usr/local/gopath/bin:/usr/local/bin:$PATH"' > /etc/profile.d/genesis.sh
