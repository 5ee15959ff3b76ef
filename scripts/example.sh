#!/usr/bin/env bash
# The main job on the bundled example: mount two image layers with a container layer on top,
# change things through the mount, and show what landed in the upper (a copy-up and a whiteout),
# then unmount and show that the image layers did not change.
set -euo pipefail
cd "$(dirname "$0")/.."
app=examples/layers/app base=examples/layers/base
tmp=$(mktemp -d /tmp/unionmount-example.XXXXXX)
upper=$tmp/container mnt=$tmp/mnt
mkdir -p "$mnt" "$upper"
before=$(cd examples/layers && find . -type f -exec sha256sum {} + | sort)
root=$(pwd)
unionmount() { node "$root/dist/cli/main.js" "$@"; }
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; eval "$@"; }

unionmount --trace --lower "$app:$base" --upper "$upper" "$mnt" 2>"$tmp/trace.log" &
daemon=$!
trap 'unionmount umount --lazy "$mnt" 2>/dev/null || true; wait $daemon 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
mountpoint -q "$mnt" || { cat "$tmp/trace.log" >&2; exit 1; }

cd "$tmp"
echo "unionmount --lower app:base --upper container mnt   (layers from $base, $app)"
run "ls -R mnt"
run "cat mnt/etc/app.conf            # the app layer hides the base layer's copy"
run "echo 'boot: container started' >> mnt/var/log/boot.log   # append to a lower file: copy-up"
run "echo 'remember the milk' > mnt/notes.txt                 # a new file: upper only"
run "rm mnt/etc/motd                                          # delete a lower file: whiteout"
run "ls mnt/etc"
run "find container | sort                                    # the container layer on disk"
run "ls -l container/etc/motd                                 # a whiteout: character device 0/0"
run "cat container/var/log/boot.log                           # the copied-up file"
say "union events (--trace)"; cat trace.log
run "unionmount umount mnt"
wait $daemon
cd "$root"
after=$(cd examples/layers && find . -type f -exec sha256sum {} + | sort)
say "sha256sum of every file in the image layers, before and after"
if [ "$before" = "$after" ]; then echo "unchanged: the image layers were never written"; else echo "CHANGED"; exit 1; fi
