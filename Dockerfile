# strictdot in a FROM scratch image: one statically linked binary, nothing else.
# No libc, no shell, no CA bundle on disk (the web PKI roots are compiled in).
#
#   docker build -t strictdot .
#   docker run --rm -p 127.0.0.1:53:53/udp -p 127.0.0.1:53:53/tcp strictdot
#   docker run --rm --cap-add NET_BIND_SERVICE --network host strictdot --listen 127.0.0.1:53
#
# Port 53 as non-root: map it (-p 53:53/udp, the container listens on 53 with the
# capability Docker grants by default), or give NET_BIND_SERVICE with host networking.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Static glibc build: strictdot resolves no host names (upstreams are IP addresses), so
# glibc's NSS is never needed at run time.
RUN RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target x86_64-unknown-linux-gnu \
 && cp target/x86_64-unknown-linux-gnu/release/strictdot /strictdot

FROM scratch
COPY --from=build /strictdot /strictdot
COPY policy /etc/strictdot/
USER 65532:65532
EXPOSE 53/udp 53/tcp 853/tcp 9153/tcp
# No shell in the image: exec form, so SIGTERM reaches strictdot (graceful drain).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["/strictdot", "healthcheck", "--metrics", "127.0.0.1:9153"]
ENTRYPOINT ["/strictdot"]
CMD ["--listen", "0.0.0.0:53", "--metrics", "127.0.0.1:9153"]
