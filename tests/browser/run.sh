#!/bin/sh
# ctest entry browser.ui: the end-to-end UI test in headless Chromium.
# Exits 77 (ctest SKIP_RETURN_CODE) with the reason when chromium, node/npm or
# playwright-core cannot be had; installs playwright-core (npm, this folder
# only, pinned by package-lock.json) when it is missing.
set -u
cd "$(dirname "$0")"
CHROMIUM=${HM_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then echo "SKIP: $CHROMIUM not found (apt-get install chromium)"; exit 77; fi
if ! command -v node >/dev/null 2>&1; then echo "SKIP: node not found (apt-get install nodejs npm)"; exit 77; fi
if [ ! -d node_modules/playwright-core ]; then
  if ! command -v npm >/dev/null 2>&1; then echo "SKIP: npm not found to install playwright-core"; exit 77; fi
  if [ -f package-lock.json ]; then cmd="npm ci"; else cmd="npm install"; fi
  if ! $cmd --no-audit --no-fund --loglevel=error >npm-install.log 2>&1; then
    echo "SKIP: '$cmd' of playwright-core failed (no npm registry?):"; tail -5 npm-install.log; exit 77
  fi
fi
exec node ui.test.mjs
