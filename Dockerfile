# agent-id-bridge on Node, as a container (docs/operations.md, build and run).
# Untested here: no container engine runs on the project's machines. What the image runs is tested:
# test/e2e/build.test.ts starts the release build from a fresh directory exactly as CMD does.
#
#   docker build --build-arg COMMIT=$(git rev-parse HEAD) -t agent-id-bridge .
#   docker run --read-only -p 8080:8080 \
#     -e BRIDGE_ISSUER=https://bridge.example.com -e BRIDGE_POLICY_FILE=/etc/bridge/policy.yaml \
#     -e BRIDGE_SIGNING_KEY_FILE=/run/secrets/bridge-signing-key \
#     -v "$PWD/policy.yaml:/etc/bridge/policy.yaml:ro" -v "$PWD/signing.jwk:/run/secrets/bridge-signing-key:ro" \
#     agent-id-bridge

# Build stage: the full dependency tree and the TypeScript sources, only to produce one bundle.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Lifecycle scripts are not needed to bundle (and the `node` devDependency's would fetch a binary).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
ARG COMMIT=unknown
RUN BRIDGE_BUILD_COMMIT="$COMMIT" node scripts/build.ts

# Run stage: Node and one self-contained file; no npm, no node_modules, no sources.
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    BRIDGE_HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
COPY --from=build /src/dist/agent-id-bridge.mjs /src/dist/agent-id-bridge.mjs.map /src/dist/agent-id-bridge.mjs.LEGAL.txt ./
# The official image's unprivileged user; the bridge writes nothing to disk, so --read-only works.
USER node
EXPOSE 8080
# Liveness only: readiness (/readyz) is for the load balancer or orchestrator to probe.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop, Kubernetes) drains for BRIDGE_SHUTDOWN_GRACE_MS (10 s) then exits 0;
# keep the orchestrator's stop timeout above it.
CMD ["node", "--enable-source-maps", "agent-id-bridge.mjs"]
