#!/bin/sh
# Builds a minimal busybox rootfs in DIR (created if missing):
#   /bin/busybox (static, from Debian's busybox-static) and every applet linked at its
#   usual path, /etc/passwd with root, nobody and builder (uid 1000), /etc/group,
#   /root, /home/builder (owned by 1000 when run as root), /tmp (1777).
# Usage: make-rootfs.sh DIR        BUSYBOX=/path/to/busybox overrides the binary.
set -eu
dest=${1:?usage: make-rootfs.sh DIR}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "make-rootfs.sh: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }

mkdir -p "$dest/bin" "$dest/sbin" "$dest/usr/bin" "$dest/usr/sbin" "$dest/etc" \
    "$dest/root" "$dest/tmp" "$dest/home/builder" "$dest/var"
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
builder:x:1000:
nogroup:x:65534:
GROUP
chmod 700 "$dest/root"
chmod 1777 "$dest/tmp"
if [ "$(id -u)" = 0 ]; then
    chown 1000:1000 "$dest/home/builder"
fi
