# Genesis sandbox template: Python candidates.
#
# genesis-core (with its built-in Python language) and bubblewrap, which the
# worker uses to isolate each candidate inside the sandbox.
# Build and register it with `genesis e2b template build genesis-python`.
# Wheels given with `--wheels DIR` are copied to ./wheels and preferred over
# PyPI (for development versions of Genesis).
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap procps ca-certificates tar gzip \
 && rm -rf /var/lib/apt/lists/*

COPY wheels /opt/genesis/wheels
RUN pip install --find-links /opt/genesis/wheels "genesis-core>=0.1,<0.2"

# E2B runs commands as `bash -l -c CMD`, and a login shell resets PATH from
# /etc/profile: this script puts the toolchains back.
RUN printf '%s\n' 'export PATH="/usr/local/bin:$PATH"' > /etc/profile.d/genesis.sh
