#!/usr/bin/env bash
# One command from a fresh Debian 12 + Node 20 machine (as root) to a working unionmount:
# system packages when missing, npm packages, the patched FUSE binding, the build; then the
# bundled example (pass --no-example to skip it).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libfuse2 fuse3 attr g++ make python3)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -e /dev/fuse ] || modprobe fuse 2>/dev/null || { echo "setup: /dev/fuse is missing (load the fuse module: modprobe fuse)" >&2; exit 1; }

echo "setup: npm packages and the patched FUSE binding"
npm ci --no-audit --no-fund --loglevel=error
echo "setup: build"
npm run --silent build

[ "${1:-}" = "--no-example" ] || bash scripts/example.sh
