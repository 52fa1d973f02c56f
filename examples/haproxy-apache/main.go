// Command haproxy-apache will run the web farm on the embedded Mesos
// cluster with a real HAProxy in front. Until it does, it says so.
package main

import "fmt"

func main() {
	fmt.Println("webfarm demo: coming next — embedded Mesos (mesos/local), HAProxy driven through its runtime API, and the scaler on a built-in load profile.")
}
