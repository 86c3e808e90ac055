#!/bin/sh
# Builds a minimal busybox root filesystem from Debian's busybox-static:
#   /bin/busybox and every applet linked at its usual path, /etc/passwd with root,
#   nobody and builder (uid 1000), /etc/group (builder also in wheel and staff),
#   /root, /home/builder (owned by 1000 when run as root), /tmp (1777).
# Usage: make-rootfs.sh DIR        the tree, in DIR (created if missing)
#        make-rootfs.sh OUT.tar    a reproducible tarball (sorted, fixed times, numeric owners)
# BUSYBOX=/path/to/busybox overrides the binary.
set -eu
target=${1:?usage: make-rootfs.sh DIR | OUT.tar}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "make-rootfs.sh: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }

case $target in
*.tar)
    mkdir -p "$(dirname "$target")"
    work=$(mktemp -d "$(dirname "$target")/rootfs.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    BUSYBOX=$busybox sh "$0" "$work/rootfs"
    tar --numeric-owner --sort=name --mtime='2024-01-01 00:00:00Z' -C "$work/rootfs" -cf "$target.tmp" .
    mv "$target.tmp" "$target"
    exit 0
    ;;
esac

dest=$target
mkdir -p "$dest/bin" "$dest/sbin" "$dest/usr/bin" "$dest/usr/sbin" "$dest/etc" \
    "$dest/root" "$dest/tmp" "$dest/home/builder" "$dest/var" "$dest/run"
cp "$busybox" "$dest/bin/busybox"
chmod 755 "$dest/bin/busybox"
for applet in $("$busybox" --list-full); do
    case $applet in bin/busybox | */*/*/* | linuxrc) continue ;; esac
    mkdir -p "$dest/$(dirname "$applet")"
    ln -sf /bin/busybox "$dest/$applet"
done

cat > "$dest/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
builder:x:1000:1000:builder:/home/builder:/bin/sh
PASSWD
cat > "$dest/etc/group" <<'GROUP'
root:x:0:
wheel:x:10:builder
staff:x:50:builder
builder:x:1000:
nogroup:x:65534:
GROUP
chmod 700 "$dest/root"
chmod 1777 "$dest/tmp"
if [ "$(id -u)" = 0 ]; then
    chown 1000:1000 "$dest/home/builder"
fi
