package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/testenv"
)

// The judge: mesos-go's own example-scheduler and example-executor, built
// unmodified from the module proxy (v0.0.11), run against the cluster.
const mesosGoVersion = "v0.0.11"

// exampleBinaries returns the paths of example-scheduler and
// example-executor, building them once into $HOME/.cache/webfarm. It skips
// the test if the modules cannot be fetched.
func exampleBinaries(t *testing.T) (sched, executor string) {
	t.Helper()
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	dir := filepath.Join(home, ".cache", "webfarm", "mesos-go-example-"+mesosGoVersion)
	sched, executor = filepath.Join(dir, "example-scheduler"), filepath.Join(dir, "example-executor")
	if _, err := os.Stat(sched); err == nil {
		if _, err := os.Stat(executor); err == nil {
			return sched, executor
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	scratch := t.TempDir()
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, gobin, args...)
		cmd.Dir = scratch
		// A scratch module of its own: the example needs client_golang
		// v0.9.4, which is not ours to pin in go.mod.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	const pkg = "github.com/mesos/mesos-go/api/v1/cmd/"
	if err := run("mod", "init", "exsched"); err != nil {
		t.Fatal(err)
	}
	if err := run("get", pkg+"example-scheduler@"+mesosGoVersion, pkg+"example-executor@"+mesosGoVersion,
		"github.com/prometheus/client_golang@v0.9.4", "github.com/pborman/uuid@v1.2.1", "github.com/pquerna/ffjson/fflib/v1"); err != nil {
		testenv.Need(t, "mesos-go's example modules", fmt.Sprintf("scripts/deps.sh test downloads them into the module cache (no module proxy?): %v", err))
	}
	for _, b := range []struct{ name, out string }{{"example-scheduler", sched}, {"example-executor", executor}} {
		tmp := fmt.Sprintf("%s.%d.tmp", b.out, os.Getpid()) // concurrent test runs may build too
		if err := run("build", "-o", tmp, pkg+b.name); err != nil {
			t.Fatalf("build %s: %v", b.name, err)
		}
		if err := os.Rename(tmp, b.out); err != nil {
			t.Fatal(err)
		}
	}
	return sched, executor
}

// TestExampleScheduler runs mesos-go's example-scheduler unmodified until it
// exits "mission accomplished": it subscribes, serves example-executor
// over HTTP, launches tasks with that custom executor (fetched by the agent
// into the sandbox, speaking /api/v1/executor), acknowledges updates and
// revives.
func TestExampleScheduler(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mesos-go's example-scheduler (cached after the first run)")
	}
	schedBin, execBin := exampleBinaries(t)
	tests := []struct {
		name  string
		codec string
		auth  bool
	}{
		{name: "protobuf", codec: "protobuf"},
		{name: "json with basic auth", codec: "json", auth: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Agents: 2}
			args := []string{"-codec", tc.codec, "-tasks", "5", "-cpu", "0.1", "-memory", "32",
				"-exec.cpu", "0.01", "-exec.memory", "32", "-executor", execBin,
				"-server.address", "127.0.0.1", "-server.port", "0", "-metrics.port", "0", "-timeout", "5s", "-verbose"}
			if tc.auth {
				cfg.Auth = &Credentials{Principal: "judge", Secret: "pw-" + tc.codec}
				pwFile := filepath.Join(t.TempDir(), "pw")
				if err := os.WriteFile(pwFile, []byte(cfg.Auth.Secret), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-authmode", "basic", "-credentials.username", "judge", "-credentials.passwordFile", pwFile, "-principal", "judge")
			}
			c := startCluster(t, cfg)
			args = append(args, "-url", c.URL())
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, schedBin, args...)
			cmd.Dir = t.TempDir()
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			// On success it logs "mission accomplished", cancels its own
			// context and, as against any master, exits through
			// log.Fatal(context.Canceled): status 1, last line "context
			// canceled". Any other ending is a failure.
			var ee *exec.ExitError
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			ok := strings.Contains(out.String(), "mission accomplished, terminating") &&
				(err == nil || errors.As(err, &ee) && ee.ExitCode() == 1 && strings.HasSuffix(lines[len(lines)-1], "context canceled")) &&
				!strings.Contains(out.String(), "Exiting because task")
			if !ok {
				t.Fatalf("example-scheduler: %v (ctx %v)\n%s", err, ctx.Err(), tail(out.String(), 4000))
			}
			finished := 0
			for _, ti := range c.Tasks() {
				if ti.State == "TASK_FINISHED" {
					finished++
				}
			}
			if finished != 5 {
				t.Errorf("%d tasks TASK_FINISHED, want 5: %+v", finished, c.Tasks())
			}
		})
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
