# Debian 12 base: the uWebSockets.js v20.30 binary needs glibc >= 2.34.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# npm ci compiles the shared-memory addon (binding.gyp) against the image's
# own Node headers.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# Piscina task modules (basic auth password checks), compiled beside src/.
COPY workers ./workers
COPY config ./config
# The production build compiles src/ without its tests (tsconfig.build.json).
RUN npm run build:prod && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/build/Release/wicket_shm.node ./build/Release/wicket_shm.node
COPY package.json ./
COPY config ./config
USER node
EXPOSE 8080 9901
# The example config listens on 127.0.0.1; in a container override the hosts.
ENV WICKET_HTTP_HOST=0.0.0.0
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start", "--config", "config/gateway.yaml"]
