#!/usr/bin/env bash
# Installs the Node shell's build tools from the committed lock (npm install, not npm ci: with
# npm 11, npm ci trips over @napi-rs/cli's optional packages) and builds the addon with
# @napi-rs/cli, regenerating index.js / index.d.ts. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../bindings-node"
# Re-run npm install whenever the lock changed since the last install (a no-op otherwise).
if ! cmp -s package-lock.json node_modules/.tg-installed-lock 2>/dev/null; then
  npm install --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.tg-installed-lock
fi
npx napi build --platform --release --js index.js --dts index.d.ts
