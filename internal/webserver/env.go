package webserver

import (
	"fmt"
	"strconv"
)

// Port returns the port number in the first of the environment variables
// names that is set (non-empty), as getenv (os.Getenv outside tests)
// reports them. Mesos sets PORT0 from the task's port resource; pass
// "PORT0", "PORT" to also accept PORT.
//
// It returns an error naming the variable and its value if that value is
// not a port number 1–65535, or if none is set.
func Port(getenv func(string) string, names ...string) (int, error) {
	if len(names) == 0 {
		return 0, fmt.Errorf("webserver: Port: no variable names given")
	}
	name, v := names[0], ""
	for _, n := range names {
		if v = getenv(n); v != "" {
			name = n
			break
		}
	}
	port, err := strconv.Atoi(v)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("$%s = %q: want a port number 1–65535 (the scheduler sets it from the offer)", name, v)
	}
	return port, nil
}
