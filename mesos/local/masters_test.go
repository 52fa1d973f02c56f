package local

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// post sends a REVIVE-shaped body to url without following redirects.
func postNoRedirect(t *testing.T, url string) (int, string, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Post(url, mediaJSON, strings.NewReader(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "", "" // a subscription: do not read the stream
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func TestStandbyMastersAndLeaderFailover(t *testing.T) {
	c := startCluster(t, Config{Agents: 1, Masters: 3, ElectionDelay: 300 * time.Millisecond})
	urls := c.URLs()
	if len(urls) != 3 || c.URL() != urls[0] {
		t.Fatalf("URLs %v, URL %s: want 3 masters, the first leading", urls, c.URL())
	}
	hostPath := func(u string) string { return strings.TrimPrefix(u, "http:") }
	t.Run("standbys redirect to the leader", func(t *testing.T) {
		for _, u := range urls[1:] {
			code, loc, _ := postNoRedirect(t, u)
			if code != http.StatusTemporaryRedirect || loc != hostPath(urls[0]) {
				t.Errorf("%s: %d Location %q, want 307 to %q", u, code, loc, hostPath(urls[0]))
			}
		}
		// Master::Http::redirect (src/master/http.cpp) keeps the query.
		if code, loc, _ := postNoRedirect(t, urls[1]+"?x=1"); code != http.StatusTemporaryRedirect || loc != hostPath(urls[0])+"?x=1" {
			t.Errorf("with a query: %d Location %q, want 307 to %q", code, loc, hostPath(urls[0])+"?x=1")
		}
	})
	t.Run("mesos-go follows the redirect to subscribe", func(t *testing.T) {
		cli := httpcli.New(httpcli.Endpoint(urls[2]), httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]))
		fi := frameworkInfo("redirected")
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		resp, err := httpsched.NewCaller(cli).Call(ctx, calls.Subscribe(&fi))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Close()
		var ev scheduler.Event
		if err := resp.Decode(&ev); err != nil || ev.Type != scheduler.Event_SUBSCRIBED {
			t.Fatalf("first event %v, %v: want SUBSCRIBED", ev.Type, err)
		}
	})
	t.Run("failover moves the leader after an election", func(t *testing.T) {
		s := newSched(t, c, mediaJSON)
		s.subscribe(frameworkInfo("f"))
		if err := c.FailoverMaster(context.Background()); err != nil {
			t.Fatal(err)
		}
		if c.URL() != urls[1] {
			t.Fatalf("leader %s after failover, want %s", c.URL(), urls[1])
		}
		if code, _, body := postNoRedirect(t, urls[1]); code != http.StatusServiceUnavailable || body != "No leader elected" {
			t.Errorf("during the election: %d %q, want 503 No leader elected", code, body)
		}
		waitFor(t, "the election to end", func() bool {
			code, _, _ := postNoRedirect(t, urls[1])
			return code == http.StatusOK
		})
		if code, loc, _ := postNoRedirect(t, urls[0]); code != http.StatusTemporaryRedirect || loc != hostPath(urls[1]) {
			t.Errorf("old leader: %d %q, want 307 to %q", code, loc, hostPath(urls[1]))
		}
	})
}
