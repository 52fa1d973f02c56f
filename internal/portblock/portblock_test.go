package portblock

import (
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/webfarm/webfarm/mesos/local"
)

// TestAreas: the areas are disjoint, below Linux's default ephemeral range
// (32768-60999, Documentation/networking/ip-sysctl.rst, ip_local_port_range),
// and LocalDefault is mesos/local's default Ports.
func TestAreas(t *testing.T) {
	if !slices.IsSortedFunc(Areas, func(a, b Area) int { return int(a.Begin) - int(b.Begin) }) {
		t.Errorf("Areas not in port order: %v", Areas)
	}
	for i, a := range Areas {
		if a.Name == "" || a.Begin > a.End || a.End >= 32768 {
			t.Errorf("area %+v: want a name and Begin <= End < 32768", a)
		}
		if i > 0 && Areas[i-1].End >= a.Begin {
			t.Errorf("areas %+v and %+v overlap", Areas[i-1], a)
		}
	}
	if LocalDefault.Begin != local.DefaultPortsBegin || LocalDefault.End != local.DefaultPortsEnd {
		t.Errorf("LocalDefault %d-%d, mesos/local's default is %d-%d", LocalDefault.Begin, LocalDefault.End, local.DefaultPortsBegin, local.DefaultPortsEnd)
	}
}

// busyPort holds a kernel-chosen port on 127.0.0.1 until the test ends.
// The test areas below lie around it, in the ephemeral range, so that this
// package's probes never touch another package's area.
func busyPort(t *testing.T) uint64 {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := uint64(ln.Addr().(*net.TCPAddr).Port)
	if p < 100 || p > 65000 {
		t.Skipf("kernel-chosen port %d too close to the ends of the port space for this test", p)
	}
	return p
}

func TestPickNeverHandsOutABlockTwice(t *testing.T) {
	busy := busyPort(t)
	a := Area{"test", busy + 1, busy + 30}
	var got []Block
	var releases []func()
	for range 3 {
		b, release, err := a.Pick(10)
		if err != nil {
			t.Fatalf("Pick(10) after %v: %v", got, err)
		}
		if b.Begin < a.Begin || b.End > a.End || b.End-b.Begin != 9 || (b.Begin-a.Begin)%10 != 0 {
			t.Fatalf("Pick(10) = %+v, want an aligned block of 10 in %d-%d", b, a.Begin, a.End)
		}
		for _, g := range got {
			if b == g {
				t.Fatalf("Pick(10) = %+v again while it is handed out (%v)", b, got)
			}
		}
		got, releases = append(got, b), append(releases, release)
	}
	if b, _, err := a.Pick(10); !errors.Is(err, ErrNoBlock) {
		t.Fatalf("Pick(10) with every block handed out = %+v, %v; want ErrNoBlock", b, err)
	}
	// A larger block overlaps the handed-out ones.
	if b, _, err := a.Pick(30); !errors.Is(err, ErrNoBlock) {
		t.Fatalf("Pick(30) over handed-out blocks = %+v, %v; want ErrNoBlock", b, err)
	}
	releases[1]()
	releases[1]() // twice is harmless
	b, release, err := a.Pick(10)
	if err != nil || b != got[1] {
		t.Fatalf("Pick(10) after releasing %+v = %+v, %v; want it back", got[1], b, err)
	}
	release()
	releases[0]()
	releases[2]()
}

func TestPickSkipsBusyPorts(t *testing.T) {
	busy := busyPort(t)
	if b, _, err := (Area{"test", busy, busy}).Pick(1); !errors.Is(err, ErrNoBlock) {
		t.Errorf("Pick(1) of an area whose only port is busy = %+v, %v; want ErrNoBlock", b, err)
	}
	// Two blocks; the first holds the busy port.
	a := Area{"test", busy - 5, busy + 14}
	b, release, err := a.Pick(10)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if b.Begin <= busy && busy <= b.End {
		for p := busy + 5; p <= busy+14; p++ {
			if !portFree(p) {
				t.Skipf("both blocks hold busy ports (%d, and %d of another process)", busy, p)
			}
		}
		t.Errorf("Pick(10) = %+v, which holds busy port %d, while %d-%d is free", b, busy, busy+5, busy+14)
	}
}

func TestPickBadSize(t *testing.T) {
	for _, tc := range []struct {
		a    Area
		size uint64
	}{
		{Area{"t", 100, 199}, 0},
		{Area{"t", 100, 199}, 101},
		{Area{"t", 200, 100}, 1},
	} {
		if b, _, err := tc.a.Pick(tc.size); err == nil || errors.Is(err, ErrNoBlock) {
			t.Errorf("%+v.Pick(%d) = %+v, %v; want an error naming the bad size", tc.a, tc.size, b, err)
		}
	}
}
