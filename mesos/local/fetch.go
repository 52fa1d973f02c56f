package local

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

const fetchTimeout = 2 * time.Minute

// fetchURIs is the agent's fetcher: each URI (http, https, file or a local
// path) is copied into dir, named after its last path element or
// output_file, and made executable if asked. Archives are not extracted.
func fetchURIs(ctx context.Context, uris []mesos.CommandInfo_URI, dir string) error {
	for _, u := range uris {
		if err := fetchURI(ctx, u, dir); err != nil {
			return fmt.Errorf("fetch %s: %w", u.Value, err)
		}
	}
	return nil
}

func fetchURI(ctx context.Context, u mesos.CommandInfo_URI, dir string) error {
	name := u.GetOutputFile()
	pu, err := url.Parse(u.Value)
	if err != nil {
		return err
	}
	if name == "" {
		name = path.Base(pu.Path)
	}
	if name == "" || name == "." || name == "/" || name == ".." || strings.Contains(name, "/") && filepath.IsAbs(name) {
		return fmt.Errorf("cannot name the output file (%q)", name)
	}
	dst := filepath.Join(dir, filepath.Clean("/"+name)) // stays inside dir
	var src io.ReadCloser
	switch pu.Scheme {
	case "http", "https":
		ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Value, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("HTTP %s", resp.Status)
		}
		src = resp.Body
	case "file", "":
		f, err := os.Open(pu.Path)
		if err != nil {
			return err
		}
		src = f
	default:
		return fmt.Errorf("unsupported scheme %q", pu.Scheme)
	}
	defer src.Close()
	mode := os.FileMode(0o644)
	if u.GetExecutable() {
		mode = 0o755
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}
