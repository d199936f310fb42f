# syntax=docker/dockerfile:1
# Isartor as a container: the single binary (npm run build:binary) on a slim Debian, run as a non-root user.
#   docker build -t isartor .
#   docker run -p 8080:8080 -e ISARTOR__EXTERNAL_LLM_API_KEY=sk-... isartor

# Build on the builder's own platform; bun build --compile cross-compiles for the image's architecture.
FROM --platform=$BUILDPLATFORM node:20-bookworm-slim AS build
ARG TARGETARCH
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
# Only Bun's install script is needed (it takes Bun from its platform package); npm 10 would run them all.
RUN npm ci --no-audit --no-fund --ignore-scripts && (cd node_modules/bun && node install.js)
COPY . .
RUN target="linux-$([ "$TARGETARCH" = "arm64" ] && echo arm64 || echo x64)" \
  && npm run --silent build:binary -- --target "$target" \
  && cp "dist/isartor-$target" /isartor

# curl for the health check the troubleshooting guide shows; the binary needs nothing else (glibc is in the base).
FROM debian:bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends curl ca-certificates \
  && rm -rf /var/lib/apt/lists/* \
  && useradd --system --uid 10001 --home-dir /var/lib/isartor --create-home isartor \
  && mkdir -p /var/cache/isartor \
  && chown isartor /var/cache/isartor
COPY --from=build /isartor /usr/local/bin/isartor
USER isartor
# Listen on every interface inside the container; the pid file lives in ISARTOR_HOME; transformers.js models
# (ISARTOR__EMBEDDING_MODEL other than use-lite) in HF_HOME — mount a volume on /var/cache/isartor to keep them.
# USE-lite and L1b's fast stage ship inside the binary: nothing is built or downloaded at start.
ENV ISARTOR__HOST_PORT=0.0.0.0:8080 \
  ISARTOR_HOME=/var/lib/isartor \
  HF_HOME=/var/cache/isartor/huggingface
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["curl", "-f", "http://localhost:8080/healthz"]
# In the foreground: the container's main process; docker stop sends SIGTERM, in-flight requests finish.
ENTRYPOINT ["/usr/local/bin/isartor"]
CMD ["up"]
