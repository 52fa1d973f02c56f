package local_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/webfarm/webfarm/mesos/local"
)

// Start a cluster of two agents and point a v1 scheduler at its URL.
func ExampleStart() {
	c, err := local.Start(context.Background(), local.Config{Agents: 2, CPUs: 2, Mem: 1024})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println(strings.HasPrefix(c.URL(), "http://127.0.0.1:"), strings.HasSuffix(c.URL(), local.SchedulerPath))
	for _, a := range c.Agents() {
		fmt.Println(a.CPUs, a.Mem, a.Ports)
	}
	// Output:
	// true true
	// 2 1024 {31000 31499}
	// 2 1024 {31500 32000}
}
