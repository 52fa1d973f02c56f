#!/bin/sh
# kernel.sh DIR: fetch a Debian cloud kernel that has IPVS as modules and
# unpack it into DIR (vmlinuz, lib/modules/VERSION/...). Used by the lb/lvs
# tests to boot a VM under qemu when the host kernel has no IPVS. Runs once
# per machine; the tests cache DIR under $HOME/.cache/webfarm.
set -eu
dir=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
apt_download() {
	apt-get download "$@" >/dev/null 2>&1 && return 0
	# Package lists may be missing on a fresh machine; refresh once (as root).
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq >/dev/null 2>&1 || true
		apt-get download "$@" >/dev/null
	else
		echo "kernel.sh: apt-get download $* failed (run apt-get update as root)" >&2
		exit 1
	fi
}
apt_download linux-image-cloud-amd64
image=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
[ -n "$image" ] || { echo "kernel.sh: cannot resolve the kernel package behind linux-image-cloud-amd64" >&2; exit 1; }
apt_download "$image"
mkdir root
dpkg -x "$(ls ${image}_*.deb | head -n1)" root
ver=${image#linux-image-}
[ -f "root/boot/vmlinuz-$ver" ] || { echo "kernel.sh: no vmlinuz-$ver in $image" >&2; exit 1; }
mkdir -p "$dir.part"
cp "root/boot/vmlinuz-$ver" "$dir.part/vmlinuz"
mkdir -p "$dir.part/modules"
# Keep only what IPVS tests load: netfilter conntrack, IPVS and its schedulers, dummy.
kd=root/lib/modules/$ver/kernel
for m in lib/libcrc32c net/netfilter/nf_conntrack net/ipv4/netfilter/nf_defrag_ipv4 net/ipv6/netfilter/nf_defrag_ipv6 \
	drivers/net/dummy; do
	f=$(ls "$kd/$m.ko"* 2>/dev/null | head -n1) && [ -n "$f" ] && cp "$f" "$dir.part/modules/"
done
for f in "$kd"/net/netfilter/ipvs/ip_vs*.ko*; do
	case $f in *ip_vs_ftp* | *ip_vs_pe_sip*) continue ;; esac # they need nf_nat / sip helpers
	cp "$f" "$dir.part/modules/"
done
echo "$ver" >"$dir.part/version"
rm -rf "$dir"
mv "$dir.part" "$dir"
