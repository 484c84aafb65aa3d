package loopback

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestFreeAddressRefusesAndCanBeListenedOn(t *testing.T) {
	addr := FreeAddress(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("address %q is not on the loopback interface", addr)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("something listens on %s", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	l.Close()
}
