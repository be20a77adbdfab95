# contentgraph, production image: PostgreSQL + Redis come from docker-compose.yml.
FROM python:3.12-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/contentgraph

# Dependencies first (pinned by constraints.txt) so code changes reuse this layer.
COPY pyproject.toml constraints.txt README.md ./
COPY app ./app
COPY schema ./schema
RUN pip install -c constraints.txt . \
    && useradd --system --uid 10001 --home-dir /srv/contentgraph contentgraph \
    && mkdir -p /data/files /data/var \
    && chown -R contentgraph /data

# Alembic reads migrations/ from the working directory.
COPY migrations ./migrations

USER contentgraph
ENV HOST=0.0.0.0 \
    PORT=8000 \
    FILES_ROOT=/data/files \
    VAR_DIR=/data/var
EXPOSE 8000
VOLUME ["/data/files"]

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

CMD ["contentgraph", "serve", "--workers", "2"]
