# syntax=docker/dockerfile:1
# The media server image (`matrix-media-kit serve`):
#   docker build -t matrix-media-kit .
#   docker run -p 8008:8008 -v media-data:/data matrix-media-kit
# Mount a config at /etc/matrix-media-kit/media.yaml (or set MEDIA_CONFIG) for real use;
# examples/compose.yaml runs it on Redis, PostgreSQL and MinIO.
ARG NODE_VERSION=20

# Production dependencies only. better-sqlite3 downloads a prebuilt addon, or compiles one
# with these tools when none matches the platform.
FROM node:${NODE_VERSION}-bookworm-slim AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm install --no-save --omit=dev --no-audit --no-fund prom-client@15.1.3

# The build, with dev dependencies: TypeScript compiles src/ into dist/. No native addon is
# needed to compile, so install scripts are skipped.
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# The runtime: dist/ and production node_modules, run as the unprivileged `node` user.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
# ffmpeg makes video thumbnails (in a sandbox; prlimit comes with util-linux). The image also
# carries prom-client (an optional peer of the package), so `metrics.listen` works as is.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN chmod +x dist/cli/index.js \
 && ln -s /app/dist/cli/index.js /usr/local/bin/matrix-media-kit \
 && mkdir -p /data /etc/matrix-media-kit \
 && chown node:node /data
# The default config: embedded metadata and a filesystem datastore on the /data volume,
# listening on every interface of the container.
COPY <<EOF /etc/matrix-media-kit/media.yaml
listen:
  host: 0.0.0.0
  port: 8008
datastores:
  - { id: local, type: fs, kinds: [local, remote, thumbnail, preview, archive], root: /data/media }
metadata:
  embedded: /data/metadata
EOF
ENV MEDIA_CONFIG=/etc/matrix-media-kit/media.yaml
USER node
WORKDIR /data
VOLUME /data
EXPOSE 8008
# PORT (over listen.port) keeps the check on the port the server listens on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8008) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["matrix-media-kit"]
CMD ["serve"]
