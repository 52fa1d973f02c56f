//go:build !linux

package zktest

import "os/exec"

// dieWithParent does nothing where Pdeathsig is missing: Stop (from Main)
// ends the server.
func dieWithParent(*exec.Cmd) {}
