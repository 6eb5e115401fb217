# syntax=docker/dockerfile:1
#
# satugate gateway image.
#   docker build -t satugate .
#   (then the README's "Deploying" section: the settings and files a container needs)
#
# No secret is baked in: database and Redis URLs come from the environment, the master
# key from a mounted file. The image runs as an unprivileged user and works with a
# read-only root filesystem (only /tmp and the data directory need to be writable).
#
# BASE_IMAGE: any image with Python 3.11 and its venv module at the same path in both
# stages, e.g. a Debian bookworm with python3, python3-venv and ca-certificates
# (--build-arg BASE_IMAGE=...). Both stages use it, so that the virtualenv's interpreter
# link points at the runtime's interpreter.
ARG BASE_IMAGE=python:3.11-slim

# --- builder: resolve the locked dependencies into a virtualenv ---------------------------
FROM ${BASE_IMAGE} AS builder

# Where the package index is reached differently, pass it as build arguments: a mirror
# (PIP_INDEX_URL), a proxy's CA bundle mounted for the build (PIP_CERT). Both stay empty
# otherwise and pip uses PyPI. They show in the builder's history, never the runtime's.
ARG PIP_INDEX_URL=""
ARG PIP_CERT=""

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m venv /opt/satugate
ENV PATH=/opt/satugate/bin:$PATH

WORKDIR /src
# Dependencies first, from the lock file alone, so this layer is cached across code changes.
# Every file is checked against the lock's sha256 hashes.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --only-binary :all: -r requirements.lock

# Then the project itself, without re-resolving anything; pip and setuptools leave the
# virtualenv afterwards (nothing installs packages at run time).
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY policies ./policies
COPY connectors ./connectors
COPY audit ./audit
RUN pip install --no-cache-dir --no-deps . \
    && python -m pip uninstall --yes --quiet pip setuptools \
    && python -m compileall -q /opt/satugate/lib

# --- runtime: the interpreter, the virtualenv, nothing else -------------------------------
FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="satugate" \
      org.opencontainers.image.description="Data-sharing gateway for local governments" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 satugate \
    && useradd --system --uid 10001 --gid satugate --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin satugate \
    && mkdir -p /var/lib/satugate \
    && chown satugate:satugate /var/lib/satugate

COPY --from=builder /opt/satugate /opt/satugate

ENV PATH=/opt/satugate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SATUGATE_HOST=0.0.0.0 \
    SATUGATE_PORT=8000 \
    SATUGATE_DATA_DIR=/var/lib/satugate

WORKDIR /var/lib/satugate
USER 10001:10001
EXPOSE 8000

# Liveness from inside the container, with the standard library only (no curl in the image).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SATUGATE_PORT', '8000') + '/healthz', timeout=4)"]

CMD ["satugate", "serve"]
