# syntax=docker/dockerfile:1

# --- Build -------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src

COPY . .

# target/ lives in a cache mount, so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p curtain \
    && cp /src/target/release/curtain /usr/local/bin/curtain

# --- Runtime -----------------------------------------------------------------
FROM debian:bookworm-slim

# ca-certificates for outbound TLS; curl for the HEALTHCHECK only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 --user-group --no-create-home \
        --home-dir /var/lib/curtain --shell /usr/sbin/nologin curtain \
    && mkdir -p /var/lib/curtain \
    && chown curtain:curtain /var/lib/curtain

COPY --from=builder /usr/local/bin/curtain /usr/local/bin/curtain

WORKDIR /var/lib/curtain
USER curtain

ENV CURTAIN_DATA_DIR=/var/lib/curtain \
    CURTAIN_BIND=0.0.0.0 \
    CURTAIN_PORT=8080 \
    CURTAIN_METRICS_BIND=0.0.0.0

# 9464 serves /metrics: reachable by a scraper on the private network, never publish it.
EXPOSE 8080 9464

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1

ENTRYPOINT ["curtain"]
CMD ["serve"]
