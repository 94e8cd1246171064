# Genesis sandbox template: Rust candidates (single files through rustc, and
# Cargo projects), with genesis-core and genesis-lang-rust.
# Build and register it with `genesis e2b template build genesis-rust`.
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo

RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap procps ca-certificates curl tar gzip build-essential pkg-config \
 && rm -rf /var/lib/apt/lists/*

# The stable toolchain, minimal profile, shared by every user of the sandbox.
RUN curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
      | sh -s -- -y --profile minimal --default-toolchain stable --no-modify-path \
 && /usr/local/cargo/bin/rustc --version \
 && chmod -R a+rwX /usr/local/rustup /usr/local/cargo

COPY wheels /opt/genesis/wheels
RUN pip install --find-links /opt/genesis/wheels "genesis-core>=0.1,<0.2" "genesis-lang-rust>=0.1,<0.2"

# E2B runs commands as `bash -l -c CMD`, and a login shell resets PATH from
# /etc/profile: this script puts the toolchains back.
RUN printf '%s\n' \
      'export RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo' \
      'export PATH="/usr/local/cargo/bin:/usr/local/bin:$PATH"' > /etc/profile.d/genesis.sh
