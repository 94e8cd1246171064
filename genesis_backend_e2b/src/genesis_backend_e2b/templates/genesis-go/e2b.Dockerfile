# Genesis sandbox template: Go candidates, with genesis-core and the Go
# toolchain. The Go language plugin (genesis-lang-go) is installed when a
# wheel of it is given with --wheels or it is on PyPI; without it the
# template still carries the toolchain for a custom language plugin.
# Build and register it with `genesis e2b template build genesis-go`.
FROM python:3.11-slim-bookworm

ARG GO_VERSION=1.22.5
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GOPATH=/usr/local/gopath GOCACHE=/tmp/go-build GOTOOLCHAIN=local

RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap procps ca-certificates curl tar gzip build-essential \
 && rm -rf /var/lib/apt/lists/*

RUN curl -sSfL "https://go.dev/dl/go${GO_VERSION}.linux-amd64.tar.gz" | tar -xz -C /usr/local \
 && /usr/local/go/bin/go version \
 && mkdir -p /usr/local/gopath && chmod -R a+rwX /usr/local/gopath

COPY wheels /opt/genesis/wheels
RUN pip install --find-links /opt/genesis/wheels "genesis-core>=0.1,<0.2" \
 && (pip install --find-links /opt/genesis/wheels "genesis-lang-go>=0.1,<0.2" \
     || echo "genesis-lang-go is not available: the template has the Go toolchain but no Go language plugin")

# E2B runs commands as `bash -l -c CMD`, and a login shell resets PATH from
# /etc/profile: this script puts the toolchains back.
RUN printf '%s\n' \
      'export GOPATH=/usr/local/gopath GOCACHE=/tmp/go-build GOTOOLCHAIN=local' \
      'export PATH="/usr/local/go/bin:/usr/local/gopath/bin:/usr/local/bin:$PATH"' > /etc/profile.d/genesis.sh
