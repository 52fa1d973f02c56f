package status

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

// chromium returns the path of Debian's chromium, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	return testenv.LookPath(t, "the headless page test needs Debian's chromium: scripts/deps.sh test installs it (apt-get install chromium)",
		"chromium", "chromium-browser")
}

// runChromium runs headless chromium with args and the page URL, bounded in time.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// feedingServer serves the board and, before each /api/status answer, feeds
// it one more controller tick whose rate is 100 × the poll's number, so the
// page has to show changing numbers.
func feedingServer(t *testing.T) (*httptest.Server, *int) {
	t.Helper()
	c := newClock()
	b := newBoardLog(t, c, logLines(&strings.Builder{}))
	b.SetInfo("balancer", "test")
	m := lbtest.NewMemory()
	w := b.Watch(m)
	ctx := context.Background()
	for i := range 3 {
		be := lb.Backend{ID: fmt.Sprintf("web-%d", i), Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(31000+i))}
		if err := w.Add(ctx, be); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Drain(ctx, "web-2"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	polls := new(int)
	h := b.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/status" {
			mu.Lock()
			*polls++
			n := *polls
			c.Advance(time.Second)
			m.Serve(uint64(100 * n))
			_, _ = w.Stats(ctx)
			b.SetLoad(Load{Running: true, TargetRPS: float64(100 * n), Requests: int64(10 * n), OK: int64(10 * n)})
			b.Record(report(c, n, n+1, n, float64(100*n), true, fmt.Sprintf("poll %d → %d", n, n+1)))
			// A canary of v2 beside v1: v1 serves 90 req/s, v2 10 req/s of which 5 are 5xx.
			if err := b.SetDeployment(Deployment{State: "canary", From: "v1", To: "v2", Desired: 5, Old: 4, New: 1, Ready: 1,
				Share: 0.1, OldRequests: uint64(90 * n), NewRequests: uint64(10 * n), NewErrors: uint64(5 * n)}); err != nil {
				t.Error(err)
			}
			mu.Unlock()
		}
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	return srv, polls
}

func TestPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chromium; skipped with -short")
	}
	bin := chromium(t)
	srv, _ := feedingServer(t)

	// Virtual time runs the page's 1 s poll timer several times.
	dom := string(runChromium(t, bin, "--dump-dom", "--virtual-time-budget=6000", srv.URL+"/"))

	attr := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("DOM lacks %s; DOM:\n%s", re, dom)
		}
		return m[1]
	}
	polls, err := strconv.Atoi(attr(`<body data-polls="(\d+)"`))
	if err != nil || polls < 3 {
		t.Fatalf("page rendered %d polls (%v), want ≥ 3: it must keep polling /api/status", polls, err)
	}
	// Numbers update: the k-th poll carried rate 100·k and desired k+1.
	if got, want := attr(`<b id="rps">([^<]*)</b>`), strconv.Itoa(100*polls); got != want {
		t.Errorf("requests/s tile = %q after %d polls, want %q (the latest poll's rate)", got, polls, want)
	}
	if got, want := attr(`<b id="desired">([^<]*)</b>`), strconv.Itoa(polls+1); got != want {
		t.Errorf("desired tile = %q after %d polls, want %q", got, polls, want)
	}
	// The chart drew: one vertex per tick for the rate line, steps for tasks.
	for _, line := range []string{"line-rps", "line-desired", "line-running", "line-target"} {
		pts := strings.Fields(attr(`id="` + line + `"[^>]*points="([^"]*)"`))
		if len(pts) < polls-1 {
			t.Errorf("%s has %d vertices after %d polls, want ≥ %d", line, len(pts), polls, polls-1)
		}
		for _, p := range pts {
			if !regexp.MustCompile(`^\d+(\.\d)?,\d+(\.\d)?$`).MatchString(p) {
				t.Errorf("%s vertex %q is not x,y", line, p)
				break
			}
		}
	}
	if !strings.Contains(dom, "poll "+strconv.Itoa(polls)+" → "+strconv.Itoa(polls+1)) {
		t.Errorf("decisions table lacks the latest decision's reason %q", "poll "+strconv.Itoa(polls))
	}
	for _, want := range []string{">web-0<", ">127.0.0.1:31000<", `class="draining">draining<`} {
		if !strings.Contains(dom, want) {
			t.Errorf("pool table lacks %s", want)
		}
	}
	// The deployment section: progress and both versions' rates.
	if strings.Contains(dom, `<section id="deploy" hidden`) {
		t.Errorf("deployment section hidden during a deployment")
	}
	if got := attr(`id="deploy-summary">([^<]*)<`); got != "deployment canary v1 → v2: 1 new (1 ready), 4 old of 5, 10 % of the traffic" {
		t.Errorf("deployment summary = %q", got)
	}
	if got := attr(`id="deploy-progress-text">([^<]*)<`); got != "1 of 5 tasks on v2" {
		t.Errorf("deployment progress = %q", got)
	}
	for _, want := range []string{
		"<td>v1</td><td>old</td><td>4</td><td>" + strconv.Itoa(90*polls) + "</td><td>0</td><td>90.0</td><td>0.0</td><td>0.0 %</td>",
		"<td>v2</td><td>new</td><td>1</td><td>" + strconv.Itoa(10*polls) + `</td><td class="err">` + strconv.Itoa(5*polls) + `</td><td>10.0</td><td>5.0</td><td class="err">50.0 %</td>`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("deployment table lacks %s", want)
		}
	}
	if got := attr(`id="updated">([^<]*)<`); !strings.HasPrefix(got, "updated ") {
		t.Errorf("page header = %q, want \"updated <time>\" (the last poll failed?)", got)
	}

	// A screenshot, for a person to look at (go test -run Chromium -v keeps it).
	png := filepath.Join(t.TempDir(), "status.png")
	if dir := os.Getenv("WEBFARM_SCREENSHOT_DIR"); dir != "" {
		png = filepath.Join(dir, "status.png")
	}
	runChromium(t, bin, "--screenshot="+png, "--window-size=1000,1100", "--virtual-time-budget=4000", srv.URL+"/")
	if fi, err := os.Stat(png); err != nil || fi.Size() < 10_000 {
		t.Errorf("screenshot %s: %v, size %d; want a rendered page", png, err, fi.Size())
	}
}
