#!/usr/bin/env bash
# make-rootfs.sh OUT.tar — a busybox root filesystem tarball from Debian's busybox-static:
# /bin/busybox, one symlink per applet, /etc/passwd and /etc/group (root, nobody, and a
# `builder` user with uid/gid 1000). Reproducible: sorted entries, fixed times and owners.
set -euo pipefail
out=${1:?usage: make-rootfs.sh OUT.tar}
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || { echo "make-rootfs.sh: $bb not found (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
r=$work/rootfs
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,home/builder,var,proc,sys,dev,run}
cp "$bb" "$r/bin/busybox"
for applet in $("$bb" --list-full); do
  [ "$applet" = bin/busybox ] && continue
  [ -e "$r/$applet" ] || ln -s /bin/busybox "$r/$applet"
done
rm -f "$r/linuxrc"
chmod 1777 "$r/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nbuilder:x:1000:1000:builder:/home/builder:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' > "$r/etc/passwd"
printf 'root:x:0:\nbuilder:x:1000:\nstaff:x:50:builder\nnogroup:x:65534:\n' > "$r/etc/group"
chown 1000:1000 "$r/home/builder"
tar --numeric-owner --sort=name --mtime='2024-01-01 00:00:00Z' -C "$r" -cf "$out.tmp" .
mv "$out.tmp" "$out"
