#!/usr/bin/env bash
# Builds the statically linked strictdot the Dockerfile ships, with this machine's
# toolchain: glibc with crt-static on the gnu target. Prints the binary's path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target=x86_64-unknown-linux-gnu
RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target "$target" >&2
echo "target/$target/release/strictdot"
