// Command simulator writes a simulated Apache ServiceComb Service Center
// registry into etcd, in Service Center's own key layout, and keeps it
// changing: instances register, change status and expire, services come
// and go. With --embedded it runs its own etcd, which --outage.* can stop
// and restart to test how the exporter rides out a backend outage;
// --service-outage.* takes one service's instances away and brings them
// back, to test per-service alerts.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	oklogrun "github.com/oklog/run"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/servicecomb/servicecomb_exporter/internal/logging"
	"github.com/servicecomb/servicecomb_exporter/simulator"
)

// programName is the name of the binary (.gitignore expects
// ./servicecomb_simulator at the top of the checkout).
const programName = "servicecomb_simulator"

// reachTimeout bounds the wait for etcd to answer at start.
const reachTimeout = 15 * time.Second

// flags are the command line settings.
type flags struct {
	endpoints       []string
	embedded        bool
	embeddedAddress string
	embeddedDir     string
	outage          outage
	outageService   string // domain/project/name of --service-outage.service
	outageMode      string
	cfg             simulator.Config
	logLevel        string
	logFormat       string
}

func parseFlags(args []string, stdout, stderr io.Writer) (*flags, error) {
	f := &flags{cfg: simulator.DefaultConfig()}
	d := simulator.DefaultConfig()
	app := kingpin.New(programName, "Writes a simulated ServiceComb Service Center registry into etcd and keeps it changing.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.Terminate(nil)
	app.HelpFlag.Short('h')
	app.Flag("etcd.endpoints", "etcd client URL; repeat for several. Ignored with --embedded.").
		Default("http://127.0.0.1:2379").StringsVar(&f.endpoints)
	app.Flag("embedded", "Run an in-process etcd (no fsync) instead of using --etcd.endpoints.").
		BoolVar(&f.embedded)
	app.Flag("embedded.listen-address", "host:port of the embedded etcd's client URL.").
		Default("127.0.0.1:2379").StringVar(&f.embeddedAddress)
	app.Flag("embedded.dir", "Data directory of the embedded etcd (default: a temporary directory removed at exit).").
		StringVar(&f.embeddedDir)
	app.Flag("prefix", "Service Center's root key in etcd.").
		Default(d.Prefix).StringVar(&f.cfg.Prefix)
	app.Flag("domains", "Number of domains: default, tenant-1, tenant-2...").
		Default(fmt.Sprint(d.Domains)).IntVar(&f.cfg.Domains)
	app.Flag("projects", "Projects per domain: default, proj-1, proj-2...").
		Default(fmt.Sprint(d.ProjectsPerDomain)).IntVar(&f.cfg.ProjectsPerDomain)
	app.Flag("services", "Services per project at start.").
		Default(fmt.Sprint(d.ServicesPerProject)).IntVar(&f.cfg.ServicesPerProject)
	app.Flag("instances", "Instances per service at start.").
		Default(fmt.Sprint(d.InstancesPerService)).IntVar(&f.cfg.InstancesPerService)
	app.Flag("instances-per-lease", "Instances sharing one lease; 1 is Service Center's behaviour, more makes huge registries cheap.").
		Default(fmt.Sprint(d.InstancesPerLease)).IntVar(&f.cfg.InstancesPerLease)
	app.Flag("lease-ttl", "TTL of instance leases (whole seconds); they are renewed every third of it.").
		Default(d.LeaseTTL.String()).DurationVar(&f.cfg.LeaseTTL)
	app.Flag("churn.rate", "Churn events per second once loaded; 0 for none.").
		Default(fmt.Sprint(d.ChurnRate)).Float64Var(&f.cfg.ChurnRate)
	app.Flag("seed", "Seed of ids, names, statuses and churn: the same seed gives the same registry.").
		Default(fmt.Sprint(d.Seed)).Int64Var(&f.cfg.Seed)
	app.Flag("reset", "Delete everything under --prefix before loading.").
		BoolVar(&f.cfg.Reset)
	app.Flag("outage.after", "With --embedded: stop etcd this long after start (0: never).").
		Default("0s").DurationVar(&f.outage.after)
	app.Flag("outage.duration", "With --embedded: how long etcd stays stopped.").
		Default("0s").DurationVar(&f.outage.duration)
	app.Flag("outage.every", "With --embedded: start an outage again this long after the previous one started (0: once).").
		Default("0s").DurationVar(&f.outage.every)
	app.Flag("service-outage.service", "Service whose instances --service-outage.* take away, as domain/project/name (names: order-svc, payment-svc, user-svc... in load order).").
		Default("default/default/order-svc").StringVar(&f.outageService)
	app.Flag("service-outage.mode", "How: expire (a crash: leases expire, the instances disappear and come back as new ones) or down (they stay registered, DOWN, and turn UP again).").
		Default(string(simulator.OutageExpire)).EnumVar(&f.outageMode, string(simulator.OutageExpire), string(simulator.OutageDown))
	app.Flag("service-outage.after", "Take the service's instances away this long after start (0: never); churn never touches that service.").
		Default("0s").DurationVar(&f.cfg.ServiceOutage.After)
	app.Flag("service-outage.duration", "How long the service's instances stay away.").
		Default("0s").DurationVar(&f.cfg.ServiceOutage.Duration)
	app.Flag("service-outage.every", "Start a service outage again this long after the previous one started (0: once).").
		Default("0s").DurationVar(&f.cfg.ServiceOutage.Every)
	app.Flag("log.level", "Only log messages with the given severity or above: [debug info warn error].").
		Default("info").StringVar(&f.logLevel)
	app.Flag("log.format", "Output format of log messages: [logfmt json].").
		Default("logfmt").StringVar(&f.logFormat)
	if _, err := app.Parse(args); err != nil {
		return nil, err
	}
	if isHelp(args) {
		return f, nil // kingpin printed help and applied no defaults
	}
	return f, f.validate()
}

// validate checks what kingpin cannot: combinations and ranges.
func (f *flags) validate() error {
	parts := strings.Split(f.outageService, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return fmt.Errorf("--service-outage.service %q: want domain/project/name", f.outageService)
	}
	o := &f.cfg.ServiceOutage
	o.Domain, o.Project, o.Service, o.Mode = parts[0], parts[1], parts[2], simulator.OutageMode(f.outageMode)
	if err := f.cfg.Validate(); err != nil {
		if strings.HasPrefix(err.Error(), "service outage:") {
			return fmt.Errorf("--service-outage.*: %w", err)
		}
		return err
	}
	e := f.outage
	if e.after < 0 || e.duration < 0 || e.every < 0 {
		return errors.New("--outage.*: durations must not be negative")
	}
	if !f.embedded && (e.after > 0 || e.duration > 0 || e.every > 0) {
		return errors.New("--outage.* needs --embedded: only an embedded etcd can be stopped")
	}
	if e.after > 0 && e.duration == 0 {
		return errors.New("--outage.after needs --outage.duration")
	}
	if (e.duration > 0 || e.every > 0) && e.after == 0 {
		return errors.New("--outage.duration and --outage.every need --outage.after")
	}
	if e.every > 0 && e.every <= e.duration {
		return errors.New("--outage.every must be longer than --outage.duration")
	}
	if !f.embedded && len(f.endpoints) == 0 {
		return errors.New("--etcd.endpoints: none given")
	}
	return nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so that tests can run the whole program.
func run(args []string, stdout, stderr io.Writer) int {
	f, err := parseFlags(args, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return 2
	}
	if isHelp(args) {
		return 0
	}
	logger, err := logging.New(stderr, f.logLevel, f.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := runSimulator(ctx, f, logger, nil); err != nil {
		level.Error(logger).Log("msg", "simulator failed", "err", err)
		return 1
	}
	return 0
}

// isHelp reports whether args asked for help, which kingpin has printed.
func isHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--help", "-h", "--help-long", "--help-man":
			return true
		}
	}
	return false
}

// runSimulator runs until ctx is done. started, when given, learns the
// etcd endpoint once the simulator is about to load.
func runSimulator(ctx context.Context, f *flags, logger log.Logger, started func(endpoint string)) error {
	endpoints := f.endpoints
	var emb *embedded
	if f.embedded {
		var err error
		if emb, err = startEmbedded(f.embeddedAddress, f.embeddedDir, log.With(logger, "component", "embedded-etcd")); err != nil {
			return err
		}
		defer emb.close()
		endpoints = []string{emb.endpoint}
	}
	endpoint := strings.Join(endpoints, ",")
	level.Info(logger).Log("msg", "using etcd", "endpoint", endpoint, "embedded", f.embedded, "prefix", f.cfg.Prefix)

	client, err := newClient(endpoints)
	if err != nil {
		return err
	}
	defer client.Close()
	if err := reachable(ctx, client); err != nil {
		return fmt.Errorf("etcd at %s: %w", endpoint, err)
	}

	sim, err := simulator.New(client, f.cfg, log.With(logger, "component", "simulator"))
	if err != nil {
		return err
	}
	if started != nil {
		started(endpoint)
	}
	level.Info(logger).Log("msg", "loading registry", "domains", f.cfg.Domains, "projects_per_domain", f.cfg.ProjectsPerDomain,
		"services_per_project", f.cfg.ServicesPerProject, "instances_per_service", f.cfg.InstancesPerService,
		"instances_per_lease", f.cfg.InstancesPerLease, "seed", f.cfg.Seed)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g oklogrun.Group
	g.Add(func() error { return sim.Run(ctx) }, func(error) { cancel() })
	if emb != nil {
		g.Add(func() error { return emb.run(ctx, sim, f.outage) }, func(error) { cancel() })
	}
	err = g.Run()
	level.Info(logger).Log("msg", "stopped")
	return err
}

// newClient returns a client that finds etcd again quickly after an
// outage: gRPC's default reconnect backoff grows to two minutes, longer
// than lease TTLs.
func newClient(endpoints []string) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		// etcd's client logs every retry of an outage as a warning.
		Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 2 * time.Second,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return c, nil
}

// reachable waits, boundedly, for etcd to answer: a clear error beats a
// load failing halfway.
func reachable(ctx context.Context, c *clientv3.Client) error {
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	if _, err := c.Get(ctx, "health", clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("not reachable within %v: %w", reachTimeout, err)
	}
	return nil
}
