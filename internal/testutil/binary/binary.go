// Package binary finds and starts the real programs the tests run (Alertmanager,
// Prometheus, etcd, chromium), with one rule for a missing one.
package binary

import (
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// RequireEnv makes a missing binary fail the test instead of skipping it;
// `make test` sets it, so that CI cannot pass without running these tests.
const RequireEnv = "SERVICECOMB_REQUIRE_BINARIES"

// Find returns the path in the environment variable env (when env is not
// empty and the variable is set), else the first of names on PATH. Without
// one it skips the test, or fails it with RequireEnv set; debianPackage
// names what installs it.
func Find(t testing.TB, env, debianPackage string, names ...string) string {
	t.Helper()
	if env != "" {
		if p := os.Getenv(env); p != "" {
			return p
		}
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	hint := "install Debian's " + debianPackage
	if env != "" {
		hint += " or set " + env
	}
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("no %s binary (%s)", names[0], hint)
	}
	t.Skipf("no %s binary; `make test` installs it", names[0])
	return ""
}

// Start starts cmd as a child of the test: the kernel kills it if the test
// binary dies without its cleanups, so no process outlives the test; its
// output is discarded, but for standard error under -v. The channel closes
// once it has exited. Stopping it is the caller's.
func Start(t testing.TB, cmd *exec.Cmd) <-chan struct{} {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	return exited
}
