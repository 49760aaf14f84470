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
  redis-server wrk valgrind prometheus >/dev/null
# (prometheus: its promtool checks examples/prometheus/alerts.yml in the tests)
# Browser end-to-end test (tests/browser): Debian's Chromium, node and npm;
# playwright-core itself is installed by tests/browser/run.sh into its folder.
# A machine may already have node with its own npm (e.g. NodeSource's
# nodejs, which conflicts with Debian's npm package): only add what is missing.
pkgs="chromium"
command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
$SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
echo "hotelmux: dependencies installed"
