#!/usr/bin/env bash
# README command 2: the whole test suite (unit, plugin and multi-process end-to-end tests).
# Does its own set-up first; tests that build network namespaces need root (CI runs as root).
set -euo pipefail
root=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh" --test
cd "$root"
export PATH="$root/.tools/node/bin:$PATH"
exec node --test --test-timeout=180000 \
  'core/dist/test/**/*.test.js' \
  'plugins/*/dist/test/**/*.test.js' \
  'test/dist/**/*.test.js'
