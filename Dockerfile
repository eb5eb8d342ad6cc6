# One image for both roles: `hugemap api` and `hugemap worker` (see docker-compose.yml and
# deploy/helm/hugemap). Node 24 LTS, pinned to a release; bump it deliberately (docs/deploy.md, Upgrades).
FROM node:24.11.1-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY shared shared
COPY services services
COPY workers workers
COPY cli cli
COPY client client
COPY web web
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:24.11.1-bookworm-slim
# jemalloc keeps libvips' many short-lived allocations from fragmenting glibc's arenas (see docs/memory.md).
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/*
# Everything the processes write goes under /var/lib/hugemap (a volume) and /tmp (a tmpfs), so the
# container runs with a read-only root filesystem: the worker's scratch space, the scaled-image
# cache, and libvips' temporary files.
ENV NODE_ENV=production \
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 \
    WORK_DIR=/var/lib/hugemap/work \
    SCALE_CACHE_DIR=/var/lib/hugemap/scaled \
    TMPDIR=/tmp \
    METRICS_PORT=9464 \
    WORKER_METRICS_PORT=9465
RUN mkdir -p /var/lib/hugemap/work /var/lib/hugemap/scaled && chown -R node:node /var/lib/hugemap
VOLUME ["/var/lib/hugemap"]
WORKDIR /app
COPY --from=build --chown=root:root /app /app
COPY --chown=root:root deploy/docker/healthcheck.mjs /app/deploy/docker/healthcheck.mjs
# The numeric id of the image's `node` user, so Kubernetes' runAsNonRoot can check it.
USER 1000:1000
EXPOSE 8080 9464 9465
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/app/deploy/docker/healthcheck.mjs"]
ENTRYPOINT ["node", "dist/cli/hugemap.js"]
