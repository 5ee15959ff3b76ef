#!/usr/bin/env bash
# Installs /sbin/mount.fuse.unionmount so that `mount -t fuse.unionmount` and fstab lines work.
set -euo pipefail
helper="$(cd "$(dirname "$0")/.." && pwd)/dist/cli/mount-helper.js"
[ -f "$helper" ] || { echo "install-mount-helper: $helper is missing: run npm run build first" >&2; exit 1; }
cat > /sbin/mount.fuse.unionmount <<SH
#!/bin/sh
exec "$(command -v node)" "$helper" "\$@"
SH
chmod 755 /sbin/mount.fuse.unionmount
echo "installed /sbin/mount.fuse.unionmount -> $helper"
