# One image for both roles: `hugemap api` and `hugemap worker` (see docker-compose.yml).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY shared shared
COPY services services
COPY workers workers
COPY cli cli
COPY web web
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
# jemalloc keeps libvips' many short-lived allocations from fragmenting glibc's arenas (see docs/memory.md).
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
WORKDIR /app
COPY --from=build /app /app
USER node
ENTRYPOINT ["node", "dist/cli/hugemap.js"]
