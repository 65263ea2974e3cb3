#!/usr/bin/env bash
# The Debian base of every stagectl-local image, made here because no registry answers:
# a minbase bookworm rootfs from this machine's Debian mirror (debootstrap), imported as an image.
# Usage: make-base.sh TAG [KEY=VALUE...]   (labels; root; needs debootstrap)
# MIRROR=URL overrides the mirror taken from the machine's apt sources.
set -euo pipefail
tag=${1:?usage: make-base.sh TAG [LABEL=VALUE...]}
shift
labels=()
for label in "$@"; do labels+=(--change "LABEL $label"); done
mirror=${MIRROR:-}
if [ -z "$mirror" ]; then  # the first Debian mirror in the machine's apt sources
  mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
           | head -n1 | tr -d ' ' || true)
  mirror=${mirror:-http://deb.debian.org/debian}
fi
command -v debootstrap >/dev/null || { echo "make-base: debootstrap missing; run: apt-get install -y --no-install-recommends debootstrap" >&2; exit 4; }
[ "$(id -u)" -eq 0 ] || { echo "make-base: debootstrap needs root" >&2; exit 4; }
root=$(mktemp -d /var/tmp/stagectl-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -n 20 "$root.log" >&2; rm -f "$root.log"; exit 4; }
rm -f "$root.log"
# apt lists and caches are fetched again by every image that installs packages
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar --numeric-owner -C "$root" -c . | docker import \
  --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' "${labels[@]}" \
  --message "stagectl-local: debootstrap --variant=minbase bookworm $mirror" - "$tag" >/dev/null
echo "$tag"
