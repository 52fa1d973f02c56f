package haproxyproc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRestartAndReloadReadTheFile: Restart and Reload start from the
// haproxy.cfg on disk (ConfigPath), not from a rendering kept in memory,
// so lines another writer (lb/haproxy's ConfigFile) put there are served
// by the new process.
func TestRestartAndReloadReadTheFile(t *testing.T) {
	needHAProxy(t)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer web.Close()
	for _, mw := range []bool{false, true} {
		name := "restart"
		if mw {
			name = "reload"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p := StartTest(t, Config{MasterWorker: mw})
			if code := get(t, p.URL()); code != http.StatusServiceUnavailable {
				t.Fatalf("before: status %d, want 503 (empty backend)", code)
			}
			if p.ConfigPath() == "" || !strings.HasSuffix(p.ConfigPath(), "haproxy.cfg") {
				t.Fatalf("ConfigPath() = %q", p.ConfigPath())
			}
			// The backend is the file's last section: append a server to it.
			f, err := os.OpenFile(p.ConfigPath(), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteString("    server written-on-disk " + strings.TrimPrefix(web.URL, "http://") + "\n")
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if mw {
				err = p.Reload(ctx)
			} else {
				err = p.Restart(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			out, err := query(ctx, p.Socket(), "show stat "+p.Backend()+" 4 -1")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "written-on-disk") {
				t.Errorf("the new process's servers do not include the one written to the file:\n%s", out)
			}
			if code := get(t, p.URL()); code != http.StatusOK {
				t.Errorf("after: status %d, want 200 through the server from the file", code)
			}
		})
	}
}
