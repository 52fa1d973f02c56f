// Command haproxy-apache runs the web farm (work in progress).
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serveMain(os.Args[2:]))
	}
	fmt.Println("webfarm demo: coming next")
}
