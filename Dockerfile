# syntax=docker/dockerfile:1
#
# satugate gateway image.
#   docker build -t satugate .
#   docker run -p 8000:8000 -e SATUGATE_DATABASE_URL=... -e SATUGATE_REDIS_URL=... \
#     -v /path/to/master-key:/run/secrets/satugate/master-key:ro \
#     -e SATUGATE_MASTER_KEY_FILE=/run/secrets/satugate/master-key satugate
#
# No secret is baked in: database and Redis URLs come from the environment, the master
# key from a mounted file. The image runs as an unprivileged user and works with a
# read-only root filesystem (only /tmp and the data directory need to be writable).

# --- builder: resolve the locked dependencies into a virtualenv ---------------------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/satugate
ENV PATH=/opt/satugate/bin:$PATH

WORKDIR /src
# Dependencies first, from the lock file alone, so this layer is cached across code changes.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

# Then the project itself, without re-resolving anything.
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY policies ./policies
COPY connectors ./connectors
COPY audit ./audit
RUN pip install --no-cache-dir --no-deps . \
    && python -m compileall -q /opt/satugate/lib

# --- runtime: the interpreter, the virtualenv, nothing else -------------------------------
FROM python:3.11-slim AS runtime

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
