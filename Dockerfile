# syntax=docker/dockerfile:1
# Multi-stage build: a static, CGO-free wanjia binary on a distroless base,
# running as a non-root user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/wanjia ./cmd/wanjia

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wanjia /usr/local/bin/wanjia
WORKDIR /var/lib/wanjia
ENV WANJIA_DATA_DIR=/var/lib/wanjia WANJIA_LOG_FORMAT=json
USER nonroot:nonroot
EXPOSE 8080
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/wanjia"]
CMD ["serve"]
