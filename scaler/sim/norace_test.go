//go:build !race

package sim_test

// raceBuild says the tests run with the race detector, which makes a
// replay about twenty times slower.
const raceBuild = false
