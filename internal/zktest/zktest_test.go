package zktest

import (
	"io"
	"net"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// TestServerAndProxy: the shared server answers ruok, directly and through
// a proxy; a cut proxy passes nothing (the answer waits) until Restore.
func TestServerAndProxy(t *testing.T) {
	srv := Shared(t)
	if !ruok(srv.Addr) {
		t.Fatalf("server at %s does not answer ruok", srv.Addr)
	}
	p, err := NewProxy(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !ruok(p.Addr) {
		t.Fatal("no ruok through the proxy")
	}
	p.Cut()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ruok")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 4)); n != 0 || err == nil {
		t.Fatalf("read %d bytes, %v through a cut proxy; want a timeout", n, err)
	}
	p.Restore()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(c); string(b) != "imok" {
		t.Errorf("after Restore: %q, want imok", b)
	}
}
