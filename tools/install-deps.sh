#!/bin/sh
# Install everything hotelmux needs to build, test and benchmark on Debian 12.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config ca-certificates curl python3 \
  libuv1-dev node-llhttp libcurl4-openssl-dev libluajit2-5.1-dev lua-cjson-dev \
  libxml2-dev libhiredis-dev libssl-dev libsqlite3-dev zlib1g-dev \
  redis-server wrk valgrind >/dev/null
# Browser end-to-end test (tests/browser): Debian's Chromium, node and npm;
# playwright-core itself is installed by tests/browser/run.sh into its folder.
$SUDO apt-get install -y -qq --no-install-recommends chromium nodejs npm >/dev/null
echo "hotelmux: dependencies installed"
