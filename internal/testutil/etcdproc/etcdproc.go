// Package etcdproc runs the real etcd binary (Debian's etcd-server, etcd
// 3.4) on loopback ports for fault tests: unlike the embedded etcd it can be
// killed with SIGKILL, frozen with SIGSTOP and restarted on a wiped data
// directory, as an operator's etcd is.
package etcdproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/binary"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/loopback"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// Binary returns the etcd binary's path (ETCD_BIN or etcd on PATH),
// skipping (or failing, with RequireEnv set) the test when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	return binary.Find(t, "ETCD_BIN", "etcd-server", "etcd")
}

// Options tune the server.
type Options struct {
	// MaxRequestBytes raises etcd's request size limit (default 1.5 MiB).
	MaxRequestBytes int
	// QuotaBytes raises the backend quota (default 2 GiB), for benchmarks
	// that load large registries.
	QuotaBytes int64
}

// Etcd is a running etcd process.
type Etcd struct {
	t      testing.TB
	bin    string
	dir    string
	opts   Options
	client string // host:port
	peer   string
	cmd    *exec.Cmd
	exited <-chan struct{}
	// Endpoint is the client URL, http://127.0.0.1:port.
	Endpoint string
}

// Start starts etcd on free loopback ports with a fresh data directory; it
// is killed when the test ends.
func Start(t testing.TB, o Options) *Etcd {
	t.Helper()
	e := &Etcd{t: t, bin: Binary(t), dir: t.TempDir(), opts: o, client: loopback.FreeAddress(t), peer: loopback.FreeAddress(t)}
	e.Endpoint = "http://" + e.client
	e.start()
	t.Cleanup(e.Kill)
	return e
}

func (e *Etcd) start() {
	e.t.Helper()
	args := []string{
		"--name=fault", "--data-dir=" + filepath.Join(e.dir, "data"),
		"--listen-client-urls=" + e.Endpoint, "--advertise-client-urls=" + e.Endpoint,
		"--listen-peer-urls=http://" + e.peer, "--initial-advertise-peer-urls=http://" + e.peer,
		"--initial-cluster=fault=http://" + e.peer,
		"--unsafe-no-fsync", "--logger=zap", "--log-level=error",
	}
	if e.opts.MaxRequestBytes > 0 {
		args = append(args, fmt.Sprintf("--max-request-bytes=%d", e.opts.MaxRequestBytes))
	}
	if e.opts.QuotaBytes > 0 {
		args = append(args, fmt.Sprintf("--quota-backend-bytes=%d", e.opts.QuotaBytes))
	}
	e.cmd = exec.Command(e.bin, args...)
	e.exited = binary.Start(e.t, e.cmd)
	c := e.Client()
	defer c.Close()
	var lastErr error
	wait.ForNoError(e.t, "etcd ready at "+e.Endpoint, 30*time.Second, func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, lastErr = c.Get(ctx, "ready")
		cancel()
		if lastErr == nil {
			return true, nil
		}
		select {
		case <-e.exited:
			return false, errors.New("etcd exited at start-up")
		default:
			return false, nil
		}
	}, wait.Every(20*time.Millisecond), wait.Detail(func() string { return fmt.Sprintf("last error: %v", lastErr) }))
}

// Client returns a new client of this etcd; the caller closes it.
func (e *Etcd) Client() *clientv3.Client {
	e.t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		MaxCallSendMsgSize: 64 << 20})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// Pid is the process id, for measurements.
func (e *Etcd) Pid() int { return e.cmd.Process.Pid }

// Kill stops the process at once (SIGKILL); harmless when already stopped.
func (e *Etcd) Kill() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGCONT) // in case it is frozen
	_ = e.cmd.Process.Kill()
	<-e.exited
	e.cmd = nil
}

// Restart kills etcd and starts it again on the same ports, with its data,
// or wiped (an empty data directory) when wipe is set.
func (e *Etcd) Restart(wipe bool) {
	e.t.Helper()
	e.Kill()
	if wipe {
		if err := os.RemoveAll(filepath.Join(e.dir, "data")); err != nil {
			e.t.Fatal(err)
		}
	}
	e.start()
}

// Freeze stops the process without closing its ports (SIGSTOP): requests
// hang until Thaw.
func (e *Etcd) Freeze() { _ = e.cmd.Process.Signal(syscall.SIGSTOP) }

// Thaw resumes a frozen etcd.
func (e *Etcd) Thaw() { _ = e.cmd.Process.Signal(syscall.SIGCONT) }
