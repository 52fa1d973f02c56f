package testenv

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// recorder is a T that records what Need did instead of stopping.
type recorder struct {
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestNeedFailsUnderRequire(t *testing.T) {
	t.Setenv(RequireEnv, "1")
	var r recorder
	Need(&r, "haproxy", "apt-get install haproxy")
	if r.skipped != "" || !strings.Contains(r.failed, "haproxy is missing") || !strings.Contains(r.failed, "apt-get install haproxy") {
		t.Errorf("Need under %s=1: skipped %q, failed %q; want a failure naming haproxy and how to install it", RequireEnv, r.skipped, r.failed)
	}
}

func TestNeedSkipsOtherwise(t *testing.T) {
	for _, v := range []string{"", "0", "yes"} {
		t.Setenv(RequireEnv, v)
		var r recorder
		Need(&r, "qemu", "apt-get install qemu-system-x86")
		if r.failed != "" || !strings.Contains(r.skipped, "qemu is missing") {
			t.Errorf("Need with %s=%q: skipped %q, failed %q; want a skip naming qemu", RequireEnv, v, r.skipped, r.failed)
		}
	}
}

func TestLookPath(t *testing.T) {
	t.Setenv(RequireEnv, "1")
	var r recorder
	if p := LookPath(&r, "x", "webfarm-no-such-program", "/nonexistent/also-not"); p != "" || !strings.Contains(r.failed, "webfarm-no-such-program is missing") {
		t.Errorf("LookPath of missing programs = %q, failure %q; want \"\" and a failure naming the first", p, r.failed)
	}
	r = recorder{}
	if p := LookPath(&r, "x", "webfarm-no-such-program", "/bin/sh"); p != "/bin/sh" || r.failed != "" || r.skipped != "" {
		t.Errorf("LookPath(…, /bin/sh) = %q (failed %q, skipped %q), want /bin/sh", p, r.failed, r.skipped)
	}
	if p := LookPath(&r, "x", "sh"); !strings.HasSuffix(p, "/sh") {
		t.Errorf("LookPath(sh) = %q, want a path in $PATH", p)
	}
}

func TestSecretLeaks(t *testing.T) {
	const principal, secret = "webfarm", "s3cret"
	header := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(principal+":"+secret))
	tests := []struct {
		name, text string
		want       int
	}{
		{"clean", "principal=webfarm secret=REDACTED", 0},
		{"plain secret", "secret=s3cret", 1},
		{"basic-auth header", "GET / " + header, 1},
		{"both", "s3cret " + header, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SecretLeaks(tc.text, principal, secret); len(got) != tc.want {
				t.Errorf("SecretLeaks(%q) = %q, want %d leaks", tc.text, got, tc.want)
			}
		})
	}
}
