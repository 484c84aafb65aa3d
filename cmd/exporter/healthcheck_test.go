package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"golang.org/x/crypto/bcrypt"

	"github.com/servicecomb/servicecomb_exporter/internal/testutil/testcerts"
	"github.com/servicecomb/servicecomb_exporter/internal/testutil/wait"
)

// TestHealthcheckBehindBasicAuthAndTLS runs the exporter with basic
// authentication and TLS on, as a --web.config.file turns them on, and the
// healthcheck command against it with and without what it needs.
func TestHealthcheckBehindBasicAuthAndTLS(t *testing.T) {
	dir := t.TempDir()
	certs := testcerts.Write(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	writeFile(t, webCfg, fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  healthcheck: %s\n",
		certs.ServerCert, certs.ServerKey, hash))
	passwordFile := filepath.Join(dir, "password")
	writeFile(t, passwordFile, "s3cret\n")
	wrongPasswordFile := filepath.Join(dir, "wrong")
	writeFile(t, wrongPasswordFile, "nope\n")

	addr, _ := runInProcess(t, []string{"--web.config.file", webCfg}, log.NewNopLogger())
	url := "https://" + addr + "/health"

	check := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"healthcheck", "--url", url, "--timeout", "2s"}, args...), &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	auth := []string{"--username", "healthcheck", "--password-file", passwordFile}
	ca := []string{"--ca-file", certs.CA}
	var last string
	wait.For(t, "exporter healthy through TLS and basic auth", 10*time.Second, func() bool {
		code, out := check(append(auth, ca...)...)
		last = out
		return code == healthy
	}, wait.Every(20*time.Millisecond), wait.Detail(func() string { return "last check: " + last }))
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"credentials and CA", append(slice(auth), ca...), healthy, "healthy"},
		{"server name checked", append(append(slice(auth), ca...), "--server-name", "localhost"), healthy, "healthy"},
		{"wrong server name", append(append(slice(auth), ca...), "--server-name", "other.example"), unreachable, "certificate"},
		{"skip verify", append(slice(auth), "--insecure-skip-verify"), healthy, "healthy"},
		{"no CA", slice(auth), unreachable, "certificate"},
		{"no credentials", slice(ca), unreachable, "--username"},
		{"wrong password", append([]string{"--username", "healthcheck", "--password-file", wrongPasswordFile}, ca...), unreachable, "401"},
		{"missing password file", append([]string{"--username", "healthcheck", "--password-file", filepath.Join(dir, "none")}, ca...),
			unreachable, "--password-file"},
		{"client certificate accepted", append(append(slice(auth), ca...), "--cert-file", certs.ClientCert, "--key-file", certs.ClientKey), healthy, "healthy"},
		{"key without certificate", append(append(slice(auth), ca...), "--key-file", certs.ClientKey), unreachable, "--cert-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := check(tt.args...)
			if code != tt.code || !strings.Contains(out, tt.contains) {
				t.Errorf("exit %d, output %q; want exit %d mentioning %q", code, out, tt.code, tt.contains)
			}
			if strings.Contains(out, "s3cret") {
				t.Error("output shows the password")
			}
		})
	}
}

func slice(s []string) []string { return append([]string(nil), s...) }

func TestHealthcheckHelpListsOnlyItsFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"healthcheck", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"--url", "--username", "--password-file", "--ca-file", "--server-name", "insecure-skip-verify"} {
		if !strings.Contains(out, want) {
			t.Errorf("healthcheck --help lacks %s", want)
		}
	}
	for _, server := range []string{"--config.file", "--web.listen-address", "--log.level", "--shutdown.timeout"} {
		if strings.Contains(out, server) {
			t.Errorf("healthcheck --help lists the server flag %s", server)
		}
	}
}
