package proxy

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/webfarm/webfarm/lb"
)

// BenchmarkRequest measures one request through the proxy to one of 4
// loopback backends, with keep-alive on both sides (a client per goroutine).
func BenchmarkRequest(b *testing.B) {
	addrs, _ := servers(b, 4, 0)
	bal, err := New(context.Background(), Config{Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer bal.Close()
	for i, a := range addrs {
		if err := bal.Add(context.Background(), lb.Backend{ID: string(rune('a' + i)), Addr: a}); err != nil {
			b.Fatal(err)
		}
	}
	srvURL := front(b, bal)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		for pb.Next() {
			resp, err := client.Get(srvURL)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
