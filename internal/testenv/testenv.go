// Package testenv lets a test say which piece of the machine it needs
// (haproxy, qemu, chromium, apache2, a data file, a module download, …).
//
// Where the piece is missing, a test calls [Need], which skips the test
// with a message naming the piece and how to install it, or, when the
// environment variable WEBFARM_REQUIRE is 1 (as .ci/run and `make test`
// set it), fails it instead: on a machine prepared by scripts/deps.sh
// every test runs, and a missing piece is an error, never a silent skip.
//
//	bin := testenv.LookPath(t, "apt-get install haproxy (scripts/deps.sh test)", "haproxy", "/usr/sbin/haproxy")
//
// [SecretLeaks] finds a basic-auth secret in logs in every form it could
// leak in: plain, or as the base64 an Authorization header carries.
//
// Skips that are not about the environment (-short, opt-in benchmarks
// such as WEBFARM_BENCH) stay plain t.Skip calls.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// RequireEnv is the environment variable that turns [Need]'s skips into
// failures when set to "1".
const RequireEnv = "WEBFARM_REQUIRE"

// T is the part of testing.TB that this package uses; *testing.T and
// *testing.B satisfy it.
type T interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Required reports whether WEBFARM_REQUIRE=1: every piece of the
// environment a test needs must be there.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Need skips t because the machine lacks what, or fails t when
// [Required]. how says how to get it, e.g. "scripts/deps.sh test installs
// it (apt-get install haproxy)". With a *testing.T, Need does not return.
func Need(t T, what, how string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is missing and %s=1 forbids skipping: %s", what, RequireEnv, how)
		return
	}
	t.Skipf("%s is missing (set %s=1 to make this a failure): %s", what, RequireEnv, how)
}

// LookPath returns the first of candidates that is an executable file:
// a name is looked up in $PATH, a path with a slash is taken as it is
// (for /usr/sbin, which is not in every user's PATH). If none is, it calls
// [Need] with the first candidate as what is missing, and how.
func LookPath(t T, how string, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	what := "a program"
	if len(candidates) > 0 {
		what = filepath.Base(candidates[0])
	}
	Need(t, what, fmt.Sprintf("%s (looked for %v)", how, candidates))
	return ""
}
