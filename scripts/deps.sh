#!/usr/bin/env bash
# Installs what webfarm's tests and demo need, when it is missing.
# Usage: scripts/deps.sh test|demo [apache]|bench|chaos
# Debian packages come from apt-get (as root); Go tools go into ./.bin.
set -euo pipefail
cd "$(dirname "$0")/.."

want=${1:-test}
pkgs=()
need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || pkgs+=("$2")
}

need haproxy haproxy
case "$want" in
test|bench|chaos)
	need qemu-system-x86_64 qemu-system-x86
	[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || pkgs+=(busybox-static)
	need cpio cpio
	need depmod kmod
	;;
esac
case "$want" in
test)
	need chromium chromium # the status page's headless-browser test
	[ -x /usr/sbin/apache2 ] || pkgs+=(apache2) # the demo's Apache backend tests
	;;
demo)
	# scripts/deps.sh demo apache: the demo's -backend apache (default: the
	# built-in Go server when apache2 is absent).
	if [ "${2:-}" = apache ]; then [ -x /usr/sbin/apache2 ] || pkgs+=(apache2); fi
	;;
esac

if [ ${#pkgs[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "webfarm: missing Debian packages: ${pkgs[*]}" >&2
		echo "webfarm: install them as root: apt-get install ${pkgs[*]}" >&2
		exit 1
	fi
	echo "webfarm: installing ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

if [ "$want" = test ] && [ ! -x .bin/staticcheck ]; then
	echo "webfarm: installing staticcheck into .bin"
	GOBIN="$PWD/.bin" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
