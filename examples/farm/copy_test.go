package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCopiesBuildOutsideTheModule copies each example a user is told to
// copy into a fresh module of its own (with a replace directive pointing at
// this checkout, as `go get` would point at a release) and builds it there.
// An example that imports webfarm/internal/… or an unexported name fails
// here: Go refuses internal packages across modules. It needs no network:
// every dependency is webfarm's own, already in the module cache; it fails,
// never skips, when it cannot build.
func TestCopiesBuildOutsideTheModule(t *testing.T) {
	root := moduleRoot(t)
	for _, dir := range []string{"examples/farm", "examples/custom-driver"} {
		t.Run(dir, func(t *testing.T) {
			scratch := t.TempDir()
			const mod = "example.com/copied"
			copyExample(t, filepath.Join(root, dir), scratch, "github.com/webfarm/webfarm/"+dir, mod)
			gomod := "module " + mod + "\n\ngo 1.26.0\n\nrequire github.com/webfarm/webfarm v0.0.0\n\n" +
				"replace github.com/webfarm/webfarm => " + root + "\n"
			if err := os.WriteFile(filepath.Join(scratch, "go.mod"), []byte(gomod), 0o644); err != nil {
				t.Fatal(err)
			}
			// webfarm's go.sum holds the hashes of every module it needs,
			// so the scratch module verifies them without the checksum
			// database.
			sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(scratch, "go.sum"), sum, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			bin := filepath.Join(scratch, "bin")
			cmd := exec.CommandContext(ctx, goTool(), "build", "-o", bin+string(filepath.Separator), "./...")
			cmd.Dir = scratch
			// GOPROXY and the rest come from the environment; -mod=mod lets
			// the build fill the scratch module's requirements.
			cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"), "GOSUMDB=off")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build in a copy of %s (module %s, replace => %s): %v\n%s", dir, mod, root, err, out)
			}
			if _, err := os.Stat(filepath.Join(bin, "copied")); err != nil {
				t.Fatalf("go build wrote no command: %v", err)
			}
		})
	}
}

// copyExample copies the non-test Go files under src to dst, rewriting
// imports of the example's own packages (oldPath/…) to the new module path.
func copyExample(t *testing.T, src, dst, oldPath, newPath string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b = bytes.ReplaceAll(b, []byte(`"`+oldPath+`/`), []byte(`"`+newPath+`/`))
		n++
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no Go files under %s", src)
	}
}

// moduleRoot is the directory of webfarm's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/webfarm/webfarm\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("webfarm's go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// goTool is the go command of the toolchain running the test.
func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}
