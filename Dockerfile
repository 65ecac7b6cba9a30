# strictdot in a FROM scratch image: one statically linked binary, nothing else.
# No libc, no shell, no CA bundle on disk (the web PKI roots are compiled in).
#
#   docker build --build-arg STRICTDOT_GIT_COMMIT=$(git rev-parse HEAD) -t strictdot .
#   docker run --rm -p 127.0.0.1:53:53/udp -p 127.0.0.1:53:53/tcp strictdot
#   docker run --rm --network host --cap-drop ALL --cap-add NET_BIND_SERVICE \
#       strictdot --listen 127.0.0.1:53
#
# Port 53 as non-root (user 65532): with a port mapping (-p 53:53/udp) nothing is needed,
# Docker lets unprivileged processes bind low ports inside the container's own network
# namespace. With host networking the binary's file capability does it: it is marked
# cap_net_bind_service=+p (permitted, not effective), so it can only take that capability
# where the container's bounding set holds it (--cap-add NET_BIND_SERVICE, part of
# Docker's default set), and it never fails to start where it does not. strictdot raises
# it for its binds and then empties every capability set (log line "dropped
# capabilities after binding"). The file capability travels with COPY --from under
# BuildKit, the default builder since Docker 23.

FROM rust:1-bookworm AS build
# The commit for strictdot_build_info's label: .git is not in the build context
# (.dockerignore), so build.rs cannot read it; pass it, or the label says "unknown":
#   docker build --build-arg STRICTDOT_GIT_COMMIT=$(git rev-parse HEAD) -t strictdot .
ARG STRICTDOT_GIT_COMMIT=""
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# Static glibc build: strictdot resolves no host names (upstreams are IP addresses), so
# glibc's NSS is never needed at run time.
RUN STRICTDOT_GIT_COMMIT="$STRICTDOT_GIT_COMMIT" RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target x86_64-unknown-linux-gnu \
 && cp target/x86_64-unknown-linux-gnu/release/strictdot /strictdot
# The one capability it may use, permitted only (see above).
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+p /strictdot \
 && getcap /strictdot | grep -q cap_net_bind_service

FROM scratch
LABEL org.opencontainers.image.title="strictdot" \
      org.opencontainers.image.description="A strict DNS-to-DNS-over-TLS forwarder (RFC 7858, RFC 8310 strict privacy profile)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
COPY --from=build /strictdot /strictdot
# The shipped policies; among them strictdot.toml, the default policy: strictdot reads
# /etc/strictdot/strictdot.toml when no --policy is given and logs "no --policy given:
# reading the default policy file". It is the built-in defaults written out (Cloudflare by
# name, every other setting commented at its default), so running the image with or
# without it behaves the same; CMD's flags override it. scripts/scratch-test.sh checks the
# log line in a root laid out like this image.
COPY policy /etc/strictdot/
USER 65532:65532
EXPOSE 53/udp 53/tcp 853/tcp 9153/tcp
# No shell in the image: exec form, so SIGTERM reaches strictdot (graceful drain).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["/strictdot", "healthcheck", "--metrics", "127.0.0.1:9153"]
ENTRYPOINT ["/strictdot"]
CMD ["--listen", "0.0.0.0:53", "--metrics", "127.0.0.1:9153"]
