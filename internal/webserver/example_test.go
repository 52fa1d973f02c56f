package webserver_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/webfarm/webfarm/internal/webserver"
)

// A task's web server on a loopback port, asked once, then stopped.
func ExampleServe() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- webserver.Serve(ctx, ln, webserver.Config{
			Handler: webserver.NewHandler(webserver.HandlerOptions{TaskID: "web.1"}),
		})
	}()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		fmt.Println(err)
		cancel()
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("%d %s", resp.StatusCode, body)
	cancel()
	fmt.Println("stopped:", <-done)
	// Output:
	// 200 served by web.1
	// stopped: <nil>
}
