# Nox 7 images. Build with BuildKit (Docker 20.10's own client has it built in):
#   DOCKER_BUILDKIT=1 docker build --target runtime -t nox:local .
#   ... --secret id=ca,src=/path/to/ca-bundle.crt   (only behind a TLS-intercepting proxy)
# Targets: runtime (default, last stage) and test (dev dependencies; building it runs the suite).
# No "# syntax=" line on purpose: it makes BuildKit pull a frontend image from a registry.

# The base is a build argument so air-gapped machines can use a local stand-in
# (scripts/airgap-images.sh). For real use pin it by digest, e.g.
# PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>  (see docs/containers.md).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
WORKDIR /app

# ---- builder: uv, then dependencies in a layer that only pyproject.toml/uv.lock invalidate ----
FROM base AS builder
ARG UV_VERSION=0.13.9
ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The optional secret "ca" is a CA bundle for HTTPS through an intercepting proxy. It is
# mounted only for the RUN that downloads (never copied into a layer); without it the
# default CAs are used.
RUN --mount=type=cache,target=/root/.cache/pip,id=nox-pip \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    python -m venv /opt/uv && /opt/uv/bin/pip install "uv==${UV_VERSION}"
ENV PATH=/opt/venv/bin:/opt/uv/bin:$PATH

COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv,id=nox-uv \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    uv sync --frozen --no-dev --no-install-project

# The project itself as an editable install pointing at /app: it needs only the metadata and
# the package marker, so code edits under app/ never reach this layer.
COPY README.md ./
COPY app/__init__.py app/__init__.py
RUN --mount=type=cache,target=/root/.cache/uv,id=nox-uv \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    uv sync --frozen --no-dev

# ---- test: dev dependencies and the whole tree; building this target runs the suite ----
FROM builder AS test
RUN --mount=type=cache,target=/root/.cache/uv,id=nox-uv \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi; \
    uv sync --frozen
COPY . .
ARG TEST_ARGS="tests/unit"
# -p no:cacheprovider: nothing written outside the tree's own tmp dirs
RUN uv run --frozen --no-sync pytest -q -p no:cacheprovider ${TEST_ARGS}

# ---- runtime: no compilers, no uv, no pip cache; non-root; read-only root filesystem ----
FROM base AS runtime
# bubblewrap: the executor's sandbox. tini: PID 1 that forwards SIGTERM and reaps the
# sandbox's orphans. Debian's python3: the interpreter the sandbox runs by its real path
# under /usr (the base image's own python lives in /usr/local).
# pg_dump/pg_restore for `nox backup`, of the server's major version (PG_MAJOR: the major of
# the pinned server image, ci/src/nox_ci/facts.py POSTGRES_IMAGE, checked by
# tests/unit/test_postgres_pin.py): taken out of Debian's client package, since installing
# it pulls in perl (+54 MB) for wrapper scripts we never run.
ARG PG_MAJOR=15
# hadolint ignore=DL3008,DL3003
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends bubblewrap tini python3 libpq5; \
    cd /tmp; \
    apt-get download "postgresql-client-${PG_MAJOR}"; \
    dpkg-deb -x "postgresql-client-${PG_MAJOR}"_*.deb /tmp/pgclient; \
    install -m 0755 "/tmp/pgclient/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump" \
        "/tmp/pgclient/usr/lib/postgresql/${PG_MAJOR}/bin/pg_restore" /usr/local/bin/; \
    rm -rf /tmp/pgclient /tmp/*.deb /var/lib/apt/lists/*; \
    version="$(pg_dump --version)"; echo "$version"; [ "${version#* "${PG_MAJOR}".}" != "$version" ]; \
    groupadd --system --gid 10001 nox; \
    useradd --system --uid 10001 --gid nox --home-dir /home/nox --create-home \
        --shell /usr/sbin/nologin nox; \
    mkdir -p /data /workspaces; \
    chown nox:nox /data /workspaces
COPY --from=builder /opt/venv /opt/venv
COPY alembic.ini ./
COPY migrations ./migrations
COPY app ./app
RUN python -m compileall -q app migrations

# Container defaults; compose and the orchestrators set the rest (see .env.example).
ENV NOX_ENV=production \
    NOX_HOST=0.0.0.0 \
    NOX_DATA_DIR=/data \
    NOX_WORKSPACES_DIR=/workspaces
USER 10001:10001
EXPOSE 8000 8001
# No curl in the image: the interpreter we already have does the probe. NOX_PORT lets the
# same check serve any port the api is moved to.
HEALTHCHECK --interval=3s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NOX_PORT', '8000'), timeout=2)"]
# -e 143: uvicorn re-raises SIGTERM after its graceful shutdown; that is a clean exit (0).
ENTRYPOINT ["/usr/bin/tini", "-e", "143", "--"]
CMD ["nox", "serve"]

# Last, so a new revision does not invalidate any layer above.
ARG VERSION=7.0.0
ARG REVISION=unknown
# the repository URL; the pipeline passes it (empty when built by hand)
ARG SOURCE=
LABEL org.opencontainers.image.title="nox" \
      org.opencontainers.image.description="Nox 7: remote code execution API with kernel-isolated sandboxes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"
