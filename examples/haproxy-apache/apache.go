package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// apacheModules are the only modules the per-task httpd needs.
var apacheModules = []struct{ name, file string }{
	{"mpm_event_module", "mod_mpm_event.so"},
	{"authz_core_module", "mod_authz_core.so"},
	{"dir_module", "mod_dir.so"},
	{"mime_module", "mod_mime.so"},
}

// apacheFiles are the paths one task's httpd uses.
type apacheFiles struct {
	run     string // pid file, mutexes (the task's sandbox)
	docroot string // world-readable: httpd's children drop root
	modules string // Debian's module directory
}

// renderApacheConfig returns a minimal httpd.conf that serves docroot on
// bind:port in the foreground. Values are checked, not escaped: a path with
// a quote or newline is refused.
func renderApacheConfig(c serveConfig, f apacheFiles, runUser string) (string, error) {
	for _, p := range []string{f.run, f.docroot, f.modules} {
		if !filepath.IsAbs(p) || strings.ContainsAny(p, "\"\n\r\\") {
			return "", fmt.Errorf("apache: path %q must be absolute without quotes, backslashes or newlines", p)
		}
	}
	if net.ParseIP(c.bind) == nil || c.port < 1 || c.port > 65535 {
		return "", fmt.Errorf("apache: cannot listen on %q port %d", c.bind, c.port)
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# httpd.conf for web-farm task %s, written by webfarm; runs with -DFOREGROUND.", strconv.Quote(c.taskID))
	w("ServerRoot %q", f.run)
	w("ServerName %s", c.bind)
	w("Listen %s", net.JoinHostPort(c.bind, strconv.Itoa(c.port)))
	w("PidFile %q", filepath.Join(f.run, "httpd.pid"))
	w("DefaultRuntimeDir %q", f.run)
	w("Mutex file:%s default", f.run)
	for _, m := range apacheModules {
		w("LoadModule %s %q", m.name, filepath.Join(f.modules, m.file))
	}
	if runUser != "" {
		w("User %s", runUser)
		w("Group %s", runUser)
	}
	w("TypesConfig /etc/mime.types")
	w("ErrorLog /dev/stderr")
	w("LogLevel warn")
	// HAProxy keeps idle server connections for a few seconds
	// (pool-purge-delay); apache must not close them first.
	w("KeepAlive On")
	w("MaxKeepAliveRequests 0")
	w("KeepAliveTimeout 30")
	w("StartServers 1")
	w("DocumentRoot %q", f.docroot)
	w("DirectoryIndex index.html")
	w("<Directory />")
	w("  AllowOverride None")
	w("  Require all denied")
	w("</Directory>")
	w("<Directory %q>", f.docroot)
	w("  Require all granted")
	w("</Directory>")
	return b.String(), nil
}

// runApache writes the task's httpd config and runs apache2 in the
// foreground until ctx is done, then stops it (SIGTERM, SIGKILL after 5 s)
// and removes the document root.
func runApache(ctx context.Context, c serveConfig, log *slog.Logger) error {
	if _, err := os.Stat(c.apache); err != nil {
		return fmt.Errorf("apache: %w (install Debian's apache2, or use -backend go)", err)
	}
	run := c.dir
	if run == "" {
		d, err := os.MkdirTemp("", "webfarm-apache-run-")
		if err != nil {
			return fmt.Errorf("apache: %w", err)
		}
		defer os.RemoveAll(d)
		run = d
	}
	run, err := filepath.Abs(run)
	if err != nil {
		return fmt.Errorf("apache: %w", err)
	}
	docroot, err := os.MkdirTemp("", "webfarm-apache-docs-")
	if err != nil {
		return fmt.Errorf("apache: %w", err)
	}
	defer os.RemoveAll(docroot)
	if err := os.Chmod(docroot, 0o755); err != nil {
		return fmt.Errorf("apache: %w", err)
	}
	page := "<!doctype html><title>webfarm</title><h1>Hello from the web farm</h1><p>served by Apache, task " +
		html.EscapeString(c.taskID) + "</p>\n"
	for name, body := range map[string]string{"index.html": page, "healthz": "ok\n"} {
		if err := os.WriteFile(filepath.Join(docroot, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("apache: %w", err)
		}
	}
	if c.prefix != "" { // the page under /name/ too (-prefix)
		sub := filepath.Join(docroot, strings.Trim(c.prefix, "/"))
		if err := os.Mkdir(sub, 0o755); err != nil {
			return fmt.Errorf("apache: %w", err)
		}
		if err := os.WriteFile(filepath.Join(sub, "index.html"), []byte(page), 0o644); err != nil {
			return fmt.Errorf("apache: %w", err)
		}
	}
	runUser := ""
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("www-data"); err == nil {
			runUser = "www-data" // httpd refuses to serve as root
		}
	}
	conf, err := renderApacheConfig(c, apacheFiles{run: run, docroot: docroot, modules: "/usr/lib/apache2/modules"}, runUser)
	if err != nil {
		return err
	}
	confPath := filepath.Join(run, "httpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("apache: %w", err)
	}
	cmd := exec.Command(c.apache, "-f", confPath, "-DFOREGROUND")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// Debian's apache2 reads these from /etc/apache2/envvars when started by
	// apachectl; with -f and absolute paths it needs none of them.
	cmd.Env = append(os.Environ(), "APACHE_RUN_DIR="+run, "APACHE_PID_FILE="+filepath.Join(run, "httpd.pid"))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("apache: start %s: %w", c.apache, err)
	}
	log.Info("apache started", "task", c.taskID, "addr", net.JoinHostPort(c.bind, strconv.Itoa(c.port)),
		"pid", cmd.Process.Pid, "config", confPath)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return fmt.Errorf("apache exited: %w", err)
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM) // httpd: stop now; the balancer drained us first
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("apache did not stop within 5s of SIGTERM; killed")
	}
	log.Info("apache stopped", "task", c.taskID)
	return nil
}
