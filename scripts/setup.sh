#!/usr/bin/env bash
# Idempotent set-up of a plexus checkout on Debian: Node.js 24 (project-local, in .tools/node),
# the Debian packages plexus needs, `npm ci` when the lock file changed, and the TypeScript build.
#   scripts/setup.sh            what running a node needs (redis-server; dnsutils for the walkthrough)
#   scripts/setup.sh --test     also what the test suite needs (dig, ip, curl, openssl, haproxy, ...)
#   scripts/setup.sh --bench    also the benchmarks' reference tools (knotd, dnsperf, sshd, iperf3, redis-cli)
set -euo pipefail
root=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
say() { printf 'setup: %s\n' "$*" >&2; }

node_dir="$root/.tools/node"
if ! "$node_dir/bin/node" --version 2>/dev/null | grep -q '^v24\.'; then
  command -v npm >/dev/null || { say "npm is needed to fetch Node.js 24 (apt-get install -y npm, or any Node.js with npm)"; exit 1; }
  say "installing Node.js 24 into .tools/node (leaves the system's node alone)"
  npm install --global --prefix "$node_dir" --no-audit --no-fund --loglevel=error node@24 >&2
  "$node_dir/bin/node" --version | grep -q '^v24\.' || { say "Node.js 24 did not install"; exit 1; }
fi
export PATH="$node_dir/bin:$PATH"

packages=(redis-server dnsutils)
mode=${1:-}
case "$mode" in ''|--test|--bench) ;; *) say "unknown option '$mode' (expected --test or --bench)"; exit 2 ;; esac
if [ "$mode" = "--test" ] || [ "$mode" = "--bench" ]; then
  # curl and openssl are the router tests' clients; haproxy is the router benchmark's reference;
  # nftables is the NAT of the tunnel's network test; Go and hashicorp/yamux build the interop peer;
  # docker.io runs the hosting tests' instances (the tests start their own dockerd) from an image
  # built out of busybox-static (no registry is needed); wireguard-tools + wireguard-go build the
  # mesh tests' interfaces (the kernel may lack the module); pebble is the ACME tests' CA; chromium
  # is the browser the dashboard test drives (puppeteer-core, no browser download).
  # ansible + ansible-lint check and apply deploy/ansible, systemd-analyze (systemd) checks its units
  # (test/deploy.e2e.test.ts); python3-apt is what the apt module needs on the target, this machine.
  packages+=(iproute2 procps psmisc curl openssl haproxy nftables golang-go golang-github-hashicorp-yamux-dev docker.io busybox-static wireguard-tools wireguard-go pebble chromium ansible ansible-lint python3-apt systemd)
fi
if [ "$mode" = "--bench" ]; then
  # What `npm run bench` measures us against, in the same run: knotd and dnsperf (DNS), sshd/ssh -R
  # (tunnels), iperf3 (raw throughput), redis-cli (CLI start-up reference). haproxy is above.
  packages+=(knot dnsperf openssh-server openssh-client iperf3 redis-tools)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian packages: ${missing[*]} (log: .tools/apt.log)"
  mkdir -p "$root/.tools"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$root/.tools/apt.log" 2>&1; then
    tail -n 30 "$root/.tools/apt.log" >&2
    say "apt-get failed; see .tools/apt.log"
    exit 1
  fi
  # Debian starts a system redis on 6379 when it installs it; plexus manages its own instances.
  if [[ " ${missing[*]} " == *" redis-server "* ]] && command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
    $sudo systemctl disable --now redis-server >&2 || true
  fi
  # Likewise haproxy: the benchmark starts its own instance on free loopback ports.
  if [[ " ${missing[*]} " == *" haproxy "* ]] && command -v systemctl >/dev/null && systemctl is-active --quiet haproxy 2>/dev/null; then
    $sudo systemctl disable --now haproxy >&2 || true
  fi
fi

lock_hash=$(sha256sum package-lock.json | cut -c1-64)
if [ "$(cat node_modules/.plexus-lock-hash 2>/dev/null || true)" != "$lock_hash" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_hash" > node_modules/.plexus-lock-hash
fi

say "building"
npx --no-install tsc -b tsconfig.json >&2
# The one-shot client commands run from this bundle while it is fresh (core/src/cli/bundle-route.ts).
node scripts/bundle-cli.mjs
chmod +x core/dist/src/cli/main.js
