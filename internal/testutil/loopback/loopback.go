// Package loopback hands tests addresses on the loopback interface.
package loopback

import (
	"net"
	"testing"
)

// FreeAddress returns a 127.0.0.1:port that nothing listens on now: for a
// process the test starts, or as an endpoint that refuses connections.
func FreeAddress(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
