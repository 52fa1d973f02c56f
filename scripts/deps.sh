#!/usr/bin/env bash
# Installs what webfarm's tests and demo need, when it is missing.
# Usage: scripts/deps.sh test|demo [apache]|bench|chaos
# Debian packages come from apt-get (as root); Go tools go into ./.bin;
# for test it also prefetches what tests would otherwise download while
# they run (mesos-go's example modules, the lb/lvs VM kernel), so that
# with WEBFARM_REQUIRE=1 (.ci/run) no test skips and none needs more than
# the package registries.
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
	need apt-get apt # lb/lvs/testdata/kernel.sh: apt-get download
	need dpkg dpkg
	need qemu-system-x86_64 qemu-system-x86
	[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || pkgs+=(busybox-static)
	need cpio cpio
	need depmod kmod
	# mesos/zk's tests, chaos scenarios and BenchmarkTakeover start a real
	# ZooKeeper (internal/zktest); the package depends on default-jre, so
	# java comes with it.
	{ [ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null 2>&1; } || pkgs+=(zookeeper)
	;;
esac
case "$want" in
test)
	need gcc gcc # cgo for go test -race
	need flock util-linux # the lvs kernel prefetch below shares the test's lock
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

if [ "$want" = test ]; then
	# mesos/local's TestExampleScheduler builds mesos-go's example-scheduler
	# and example-executor in a scratch module: fetch the same modules (keep
	# this list in step with exampleBinaries in mesos/local/example_test.go).
	mesosgo=v0.0.11
	if [ ! -x "$HOME/.cache/webfarm/mesos-go-example-$mesosgo/example-scheduler" ]; then
		echo "webfarm: downloading mesos-go's example modules ($mesosgo)"
		tmp=$(mktemp -d)
		pkg=github.com/mesos/mesos-go/api/v1/cmd/
		(cd "$tmp" && export GOFLAGS=-mod=mod GOWORK=off &&
			go mod init exsched >/dev/null 2>&1 &&
			go get "${pkg}example-scheduler@$mesosgo" "${pkg}example-executor@$mesosgo" \
				github.com/prometheus/client_golang@v0.9.4 github.com/pborman/uuid@v1.2.1 github.com/pquerna/ffjson/fflib/v1 &&
			go build -o "$tmp/bin/" "${pkg}example-scheduler" "${pkg}example-executor") || { rm -rf "$tmp"; echo "webfarm: cannot download mesos-go's example modules" >&2; exit 1; }
		rm -rf "$tmp"
	fi
	# lb/lvs's TestKernel boots a Debian cloud kernel; fetch it into the cache
	# the test reads, under the test's own lock (vm_linux_test.go: testKernel).
	kdir=$HOME/.cache/webfarm/lvs-kernel
	if [ ! -f "$kdir/vmlinuz" ]; then
		echo "webfarm: fetching the lb/lvs test kernel into $kdir"
		mkdir -p "$(dirname "$kdir")"
		flock "$kdir.lock" sh -c '[ -f "$1/vmlinuz" ] || sh lb/lvs/testdata/kernel.sh "$1"' sh "$kdir"
	fi
	# scaler/sim's NASA test reads ../shared/traces beside the clone: it is
	# not installable, only checked.
	if [ ! -f ../shared/traces/nasa-http-1995-5m.csv ]; then
		echo "webfarm: warning: ../shared/traces/nasa-http-1995-5m.csv is missing; scaler/sim's TestNASASlice fails under WEBFARM_REQUIRE=1" >&2
	fi
fi
