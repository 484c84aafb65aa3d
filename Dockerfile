# Multi-stage build: a static binary in a minimal, non-root image.
#   make docker            (or: docker build --build-arg VERSION=$(cat VERSION) -t servicecomb_exporter .)
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH} \
        -X github.com/prometheus/common/version.BuildUser=docker \
        -X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)" \
      -o /out/servicecomb_exporter ./cmd/exporter && \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/servicecomb_simulator ./cmd/simulator

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="servicecomb_exporter" \
      org.opencontainers.image.description="Prometheus exporter for Apache ServiceComb Service Center registries" \
      org.opencontainers.image.source="https://github.com/servicecomb/servicecomb_exporter"
COPY --from=build /out/servicecomb_exporter /out/servicecomb_simulator /bin/
USER 65532:65532
EXPOSE 9729
# No shell or curl in the image: the exporter checks itself. Behind basic
# auth and TLS (--web.config.file), override it in a derived image or with
# docker run --health-cmd / compose healthcheck, for example:
#   ["/bin/servicecomb_exporter", "healthcheck", "--url", "https://127.0.0.1:9729/health",
#    "--username", "healthcheck", "--password-file", "/etc/servicecomb/healthcheck-password",
#    "--ca-file", "/etc/servicecomb/ca.pem"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/bin/servicecomb_exporter", "healthcheck", "--url", "http://127.0.0.1:9729/health"]
ENTRYPOINT ["/bin/servicecomb_exporter"]
