package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

// Exit codes of the healthcheck command.
const (
	healthy     = 0
	unhealthy   = 1
	unreachable = 2
)

// healthcheckFlags are the healthcheck command's settings: enough to pass
// the exporter's own basic authentication and TLS (--web.config.file).
type healthcheckFlags struct {
	url                string
	timeout            time.Duration
	username           string
	passwordFile       string
	caFile             string
	certFile, keyFile  string
	serverName         string
	insecureSkipVerify bool
}

func (h *healthcheckFlags) register(app *kingpin.Application) {
	hc := app.Command("healthcheck", "Ask a running exporter for its health and exit 0 if healthy, 1 if unhealthy, 2 if unreachable; "+
		"for container health checks where there is no shell or curl.")
	hc.Flag("url", "Health endpoint to ask; https:// when the exporter serves TLS.").
		Default("http://127.0.0.1" + defaultListenAddress + "/health").StringVar(&h.url)
	hc.Flag("timeout", "How long to wait for the answer.").Default("5s").DurationVar(&h.timeout)
	hc.Flag("username", "Basic authentication user (one of basic_auth_users in --web.config.file).").StringVar(&h.username)
	hc.Flag("password-file", "File holding the basic authentication password (the plain password, not its bcrypt hash).").
		StringVar(&h.passwordFile)
	hc.Flag("ca-file", "CA certificate(s) to verify the exporter's TLS certificate with; default the system's.").StringVar(&h.caFile)
	hc.Flag("cert-file", "Client certificate, when the exporter requires one (client_auth_type).").StringVar(&h.certFile)
	hc.Flag("key-file", "Key of --cert-file.").StringVar(&h.keyFile)
	hc.Flag("server-name", "Name to verify the exporter's certificate against, when it is not the --url host.").StringVar(&h.serverName)
	hc.Flag("insecure-skip-verify", "Do not verify the exporter's certificate.").BoolVar(&h.insecureSkipVerify)
}

// client builds the HTTP client the flags describe.
func (h *healthcheckFlags) client() (*http.Client, error) {
	cfg := &tls.Config{ServerName: h.serverName, InsecureSkipVerify: h.insecureSkipVerify} //nolint:gosec // on request only
	if h.caFile != "" {
		pem, err := os.ReadFile(h.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate found", h.caFile)
		}
	}
	if (h.certFile == "") != (h.keyFile == "") {
		return nil, fmt.Errorf("--cert-file and --key-file go together")
	}
	if h.certFile != "" {
		cert, err := tls.LoadX509KeyPair(h.certFile, h.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert-file/--key-file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = cfg
	return &http.Client{Timeout: h.timeout, Transport: transport}, nil
}

// run asks the health endpoint. Configuration mistakes exit 2 with the
// reason, like an unreachable exporter: the check cannot tell health.
func (h *healthcheckFlags) run(stdout, stderr io.Writer) int {
	client, err := h.client()
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return unreachable
	}
	req, err := http.NewRequest(http.MethodGet, h.url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: --url: %v\n", err)
		return unreachable
	}
	if h.username != "" || h.passwordFile != "" {
		var password string
		if h.passwordFile != "" {
			b, err := os.ReadFile(h.passwordFile)
			if err != nil {
				fmt.Fprintf(stderr, "healthcheck: --password-file: %v\n", err)
				return unreachable
			}
			password = strings.TrimRight(string(b), "\r\n")
		}
		req.SetBasicAuth(h.username, password)
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "unreachable: %v\n", err)
		return unreachable
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusUnauthorized {
		// Not the exporter's health: the check's own credentials are wrong.
		fmt.Fprintf(stderr, "unreachable: %s: check --username and --password-file\n", resp.Status)
		return unreachable
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "unhealthy: %s %s\n", resp.Status, body)
		return unhealthy
	}
	fmt.Fprintln(stdout, "healthy")
	return healthy
}
