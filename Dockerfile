# wasmhub: one static-ish binary on a slim base.
#   docker build -t wasmhub .
#   docker run -p 5000:5000 -v wasmhub-data:/data wasmhub
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p wasmhub \
    && strip target/release/wasmhub

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data wasmhub \
    && mkdir -p /data && chown wasmhub /data
COPY --from=build /src/target/release/wasmhub /usr/local/bin/wasmhub
USER wasmhub
WORKDIR /data
ENV WASMHUB_LISTEN=0.0.0.0:5000 \
    WASMHUB_DATABASE_URL=sqlite:///data/wasmhub.db \
    WASMHUB_STORAGE_URL=file:///data/blobs
VOLUME /data
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/5000 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ' 200 ' <&3"]
ENTRYPOINT ["wasmhub"]
CMD ["serve"]
