#!/usr/bin/env bash
# README command 1: an all-in-one dev node on embedded defaults, with its own managed redis-server.
# Data lives in ./.plexus-dev; Ctrl-C stops everything cleanly.
set -euo pipefail
root=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
exec "$root/bin/plexus" start "$@"
