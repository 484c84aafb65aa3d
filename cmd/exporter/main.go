// Command servicecomb_exporter watches Apache ServiceComb Service Center
// registries and exposes their health to Prometheus: an alarm center and
// health check after Service Center's own, per-domain gauges, and an API
// compatible with Service Center's admin endpoints.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	oklogrun "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/version"
	toolkit "github.com/prometheus/exporter-toolkit/web"
	"gopkg.in/yaml.v3"

	"github.com/servicecomb/servicecomb_exporter/alarm"
	"github.com/servicecomb/servicecomb_exporter/collector"
	"github.com/servicecomb/servicecomb_exporter/config"
	"github.com/servicecomb/servicecomb_exporter/config/reload"
	"github.com/servicecomb/servicecomb_exporter/forwarder"
	"github.com/servicecomb/servicecomb_exporter/internal/buildinfo"
	"github.com/servicecomb/servicecomb_exporter/internal/logging"
	"github.com/servicecomb/servicecomb_exporter/notify"
	"github.com/servicecomb/servicecomb_exporter/source"
	"github.com/servicecomb/servicecomb_exporter/web"
)

const programName = "servicecomb_exporter"

// defaultListenAddress: 9729 is not used by any exporter in Prometheus's
// list of default port allocations.
const defaultListenAddress = ":9729"

// flags are the command line settings.
type flags struct {
	command         string // serve (the default) or healthcheck
	configFile      string
	listenAddresses []string
	webConfigFile   string
	telemetryPath   string
	enableLifecycle bool
	server          serverLimits
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration

	health healthcheckFlags
}

func parseFlags(args []string, stdout, stderr io.Writer) (*flags, error) {
	f := &flags{}
	app := kingpin.New(programName, "Prometheus exporter for Apache ServiceComb Service Center registries.\n\n"+
		"The server's flags: "+programName+" serve --help (serve is the default command; its flags work without it).")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.Terminate(nil)
	app.HelpFlag.Short('h')
	app.Version(version.Print(programName))
	// The server's flags belong to serve, the default command, so that
	// `healthcheck --help` lists only its own.
	serve := app.Command("serve", "Run the exporter (the default command).").Default()
	serve.Flag("config.file", "Configuration file (YAML). Without one the exporter runs on defaults.").
		StringVar(&f.configFile)
	serve.Flag("web.listen-address", "Address to listen on; repeat for several.").
		Default(defaultListenAddress).StringsVar(&f.listenAddresses)
	serve.Flag("web.config.file", "exporter-toolkit web configuration file: TLS and basic authentication.").
		Default("").StringVar(&f.webConfigFile)
	serve.Flag("web.telemetry-path", "Path under which to expose metrics.").
		Default("/metrics").StringVar(&f.telemetryPath)
	serve.Flag("web.enable-lifecycle", "Enable POST /-/reload, as in Prometheus; SIGHUP reloads either way.").
		Default("false").BoolVar(&f.enableLifecycle)
	serve.Flag("web.read-timeout", "Maximum time to read a request, headers and body; slower clients are disconnected.").
		Default(defaultReadTimeout.String()).DurationVar(&f.server.readTimeout)
	serve.Flag("web.write-timeout", "Maximum time from the end of a request's headers to the end of its answer; longer than the slowest scrape.").
		Default(defaultWriteTimeout.String()).DurationVar(&f.server.writeTimeout)
	serve.Flag("web.idle-timeout", "How long a keep-alive connection may wait for its next request; longer than the scrape interval.").
		Default(defaultIdleTimeout.String()).DurationVar(&f.server.idleTimeout)
	serve.Flag("web.max-header-bytes", "Maximum size of a request's headers; larger requests get 431.").
		Default(defaultMaxHeaderBytes).BytesVar(&f.server.maxHeaderBytes)
	serve.Flag("log.level", "Only log messages with the given severity or above: "+fmt.Sprint(logging.Levels)).
		Default("info").StringVar(&f.logLevel)
	serve.Flag("log.format", "Output format of log messages: "+fmt.Sprint(logging.Formats)).
		Default("logfmt").StringVar(&f.logFormat)
	serve.Flag("shutdown.timeout", "How long a graceful shutdown may take before the exporter exits anyway.").
		Default("15s").DurationVar(&f.shutdownTimeout)
	f.health.register(app)
	command, err := app.Parse(args)
	if err != nil {
		return nil, err
	}
	f.command = command
	return f, nil
}

func main() {
	buildinfo.Fill() // once, before anything reads the version
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so that tests can run the whole program.
func run(args []string, stdout, stderr io.Writer) int {
	f, err := parseFlags(args, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return 2
	}
	if f == nil || (len(args) > 0 && isInfoFlag(args)) {
		return 0 // --help or --version printed
	}
	if f.command == "healthcheck" {
		return f.health.run(stdout, stderr)
	}
	logger, err := logging.New(stderr, f.logLevel, f.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := runExporter(ctx, f, logger, nil); err != nil {
		logging.Error(logger, "exporter failed", err)
		return 1
	}
	return 0
}

// isInfoFlag reports whether args asked only for help or the version, which
// kingpin has already printed.
func isInfoFlag(args []string) bool {
	for _, a := range args {
		switch a {
		case "--help", "-h", "--version", "--help-long", "--help-man":
			return true
		}
	}
	return false
}

// runExporter wires the exporter and runs it until ctx is done. listeners,
// when given, replace --web.listen-address (tests pass loopback listeners on
// random ports). It reads top to bottom as the data flows: the bus and the
// alarm center, the sources raising alarms, the forwarder and the log
// following the center, the configuration feeding them all, then metrics and
// HTTP reading them.
func runExporter(ctx context.Context, f *flags, logger log.Logger, listeners []net.Listener) error {
	level.Info(logger).Log("msg", "starting "+programName, "version", version.Info(), "build_context", version.BuildContext())
	startTime := time.Now()

	bus := notify.New(log.With(logger, "component", "notify"))
	center, err := alarm.NewCenter(bus, log.With(logger, "component", "alarm"))
	if err != nil {
		return err
	}
	defer center.Close()
	if err := center.Subscribe("alarm-log", alarm.LogEvents(log.With(logger, "component", "alarm"))); err != nil {
		return err
	}
	sources := source.NewManager(log.With(logger, "component", "source"), center)
	health := alarm.NewHealthChecker(center, sources)
	alerts := forwarder.New(forwarder.Options{Logger: log.With(logger, "component", "forwarder"), Alarms: center})
	if err := center.Subscribe("alertmanager-forwarder", alerts.OnEvent); err != nil {
		return err
	}

	serviceSeries := collector.NewServiceSeries(sources, center)
	registryMetrics := collector.NewRegistryCollector(sources)
	cfg := reload.New(log.With(logger, "component", "config"), f.configFile,
		applyConfig(f.listenAddresses, sources, alerts, center, serviceSeries, registryMetrics))
	if err := cfg.Reload(); err != nil {
		return fmt.Errorf("configuration not loaded: %w", err)
	}
	p := &parts{startTime: startTime, bus: bus, center: center, sources: sources, health: health, alerts: alerts, config: cfg,
		serviceSeries: serviceSeries, registryMetrics: registryMetrics}
	reg := newMetricsRegistry(p)

	if listeners, err = listen(f, listeners); err != nil {
		return err
	}
	var ready atomic.Bool
	handler, err := newHandler(f, logger, reg, p, listeners, ready.Load)
	if err != nil {
		closeAll(listeners)
		return err
	}

	var g oklogrun.Group
	addContextActor(&g, bus.Run)
	addContextActor(&g, sources.Run)
	addContextActor(&g, alerts.Run)
	addServer(&g, f, handler, listeners, logger)
	addReloadOnSIGHUP(&g, cfg)
	addUntilDone(&g, ctx, logger)
	ready.Store(true)
	return g.Run()
}

// parts are the exporter's long-lived components, built in runExporter and
// handed together to the helpers that expose them (metrics, HTTP).
type parts struct {
	startTime time.Time
	bus       *notify.Bus
	center    *alarm.Center
	sources   *source.Manager
	health    *alarm.HealthChecker
	alerts    *forwarder.Forwarder
	config    *reload.Holder
	// serviceSeries writes the per-service metrics into /metrics;
	// applyConfig gives it registry.per_service.
	serviceSeries *collector.ServiceSeries
	// registryMetrics exposes the sources' counts; applyConfig gives it
	// registry.quota.
	registryMetrics *collector.RegistryCollector
}

// applyConfig returns what the holder calls with every configuration it
// loads. Only the forwarder is checked before anything is applied; the
// source manager builds every source before it stops or starts one, so a
// refusal by either leaves everything as it was. The steps after the
// sources (the forwarder building the clients its check accepted, the alarm
// center taking a period the config package validated) fail only when a
// file changed since the check or on a programming error; the sources then
// already run the new configuration, while the holder reports the error and
// keeps the previous one as its record (the dump, the status page).
func applyConfig(listenAddresses []string, sources *source.Manager, alerts *forwarder.Forwarder, center *alarm.Center,
	serviceSeries *collector.ServiceSeries, registryMetrics *collector.RegistryCollector) func(*config.Config) error {
	return func(c *config.Config) error {
		c = withExternalURL(c, listenAddresses)
		if err := alerts.Check(c); err != nil {
			return err
		}
		// Applied at scrape time by the collector: a change needs no
		// source restarted.
		filter, err := collector.NewServiceFilter(c.Registry.PerService)
		if err != nil {
			return err
		}
		if err := sources.ApplyConfig(c); err != nil {
			return err
		}
		serviceSeries.SetFilter(filter)
		registryMetrics.SetQuota(c.Registry.Quota)
		if err := alerts.ApplyConfig(c); err != nil {
			return err
		}
		return applyAlarmsConfig(center, c.Alarms)
	}
}

// newMetricsRegistry registers every metric the exporter exposes: the
// collectors reading the components' state, the forwarder's vectors, and
// the Go runtime and process metrics.
func newMetricsRegistry(p *parts) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collector.NewBuildInfoCollector(programName),
		collector.NewReloadCollector(p.config),
		collector.NewAlarmCollector(p.center),
		collector.NewHealthCollector(p.health),
		collector.NewNotifyCollector(p.bus),
		p.registryMetrics,
		collector.NewServiceCenterCollector(p.sources),
	)
	reg.MustRegister(p.alerts.Collectors()...)
	return reg
}

// listen opens --web.listen-address unless the caller passed listeners,
// and checks --web.config.file, closing the listeners when it is bad.
func listen(f *flags, listeners []net.Listener) ([]net.Listener, error) {
	if listeners == nil {
		for _, addr := range f.listenAddresses {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				closeAll(listeners)
				return nil, fmt.Errorf("--web.listen-address %s: %w", addr, err)
			}
			listeners = append(listeners, l)
		}
	}
	if f.webConfigFile != "" {
		if err := toolkit.Validate(f.webConfigFile); err != nil {
			closeAll(listeners)
			return nil, fmt.Errorf("--web.config.file %s: %w", f.webConfigFile, err)
		}
	}
	return listeners, nil
}

// newHandler serves the metrics, the API and the status page; ready is
// whether the run group has started.
func newHandler(f *flags, logger log.Logger, reg *prometheus.Registry, p *parts, listeners []net.Listener, ready func() bool) (http.Handler, error) {
	return web.NewHandler(web.Options{
		Logger: log.With(logger, "component", "web"),
		Alarms: p.center,
		Health: p.health,
		Metrics: promhttp.InstrumentMetricHandler(reg,
			web.MetricsHandler(reg, []web.FamilyWriter{p.serviceSeries}, log.With(logger, "component", "metrics"))),
		TelemetryPath:   f.telemetryPath,
		Reload:          p.config.Reload,
		EnableLifecycle: f.enableLifecycle,
		Ready:           func() bool { return ready() && p.sources.Ready() },
		Config:          p.config.Redacted,
		Registry:        func() any { return p.sources.Dump() },
		StartTime:       p.startTime,
		Endpoints:       selfEndpoints(listeners, usesTLS(f.webConfigFile)),
		Sources:         p.sources,
		Alertmanagers:   p.alerts,
		ReloadStatus:    p.config.Status,
		Cache: func(name string) (web.CacheDumper, error) {
			d, err := p.sources.CacheDumper(name)
			if d == nil { // no typed nil in the interface
				return nil, err
			}
			return d, err
		},
		Clusters: p.sources.Clusters,
	})
}

// addContextActor runs a component until the group stops; each gets its
// own context, so that the order of stopping is the group's.
func addContextActor(g *oklogrun.Group, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	g.Add(func() error { return run(ctx) }, func(error) { cancel() })
}

// addServer serves handler on the listeners, and shuts the server down
// within --shutdown.timeout when the group stops.
func addServer(g *oklogrun.Group, f *flags, handler http.Handler, listeners []net.Listener, logger log.Logger) {
	server := f.server.newServer(handler)
	webFlags := &toolkit.FlagConfig{WebListenAddresses: &f.listenAddresses, WebConfigFile: &f.webConfigFile}
	g.Add(func() error {
		err := toolkit.ServeMultiple(listeners, server, webFlags, logging.Slog(log.With(logger, "component", "web")))
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}, func(error) {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), f.shutdownTimeout)
		defer cancel()
		if err := server.Shutdown(shutdownCtx); err != nil {
			level.Warn(logger).Log("msg", "web server did not shut down in time", "err", err)
			_ = server.Close()
		}
	})
}

// addReloadOnSIGHUP reloads the configuration on every SIGHUP.
func addReloadOnSIGHUP(g *oklogrun.Group, cfg *reload.Holder) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	g.Add(func() error {
		for {
			select {
			case <-hup:
				_ = cfg.Reload() // logged and counted; the running config stays
			case <-done:
				return nil
			}
		}
	}, func(error) { signal.Stop(hup); close(done) })
}

// addUntilDone stops the group when ctx is done (SIGTERM, SIGINT, or a
// test's cancel).
func addUntilDone(g *oklogrun.Group, ctx context.Context, logger log.Logger) {
	stopped := make(chan struct{})
	g.Add(func() error {
		select {
		case <-ctx.Done():
			level.Info(logger).Log("msg", "shutting down")
		case <-stopped:
		}
		return nil
	}, func(error) { close(stopped) })
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		_ = l.Close()
	}
}

// withExternalURL returns c with global.external_url filled in when it is
// not configured: http://<hostname>:<port of the first listen address>/,
// so that alerts link back to the exporter.
func withExternalURL(c *config.Config, listenAddresses []string) *config.Config {
	if c.Global.ExternalURL != nil || len(listenAddresses) == 0 {
		return c
	}
	host, err := os.Hostname()
	if err != nil {
		return c
	}
	_, port, err := net.SplitHostPort(listenAddresses[0])
	if err != nil {
		return c
	}
	u, err := url.Parse("http://" + net.JoinHostPort(host, port) + "/")
	if err != nil {
		return c
	}
	copied := *c
	copied.Global.ExternalURL = &commoncfg.URL{URL: u}
	return &copied
}

// selfEndpoints are the exporter's addresses as Service Center writes its
// own endpoints (rest://host:port/, with ?sslEnabled=true under TLS), for
// the health answer. A wildcard address is named by the host name.
func selfEndpoints(listeners []net.Listener, tls bool) []string {
	host, _ := os.Hostname()
	out := make([]string, 0, len(listeners))
	for _, l := range listeners {
		h, port, err := net.SplitHostPort(l.Addr().String())
		if err != nil {
			continue
		}
		if ip := net.ParseIP(h); (ip == nil || ip.IsUnspecified()) && host != "" {
			h = host
		}
		e := "rest://" + net.JoinHostPort(h, port) + "/"
		if tls {
			e += "?sslEnabled=true"
		}
		out = append(out, e)
	}
	return out
}

// usesTLS reports whether the web configuration file (already validated)
// turns TLS on.
func usesTLS(webConfigFile string) bool {
	if webConfigFile == "" {
		return false
	}
	data, err := os.ReadFile(webConfigFile)
	if err != nil {
		return false
	}
	var cfg struct {
		TLS struct {
			CertFile string `yaml:"cert_file"`
			Cert     string `yaml:"cert"`
		} `yaml:"tls_server_config"`
	}
	if yaml.Unmarshal(data, &cfg) != nil {
		return false
	}
	return cfg.TLS.CertFile != "" || cfg.TLS.Cert != ""
}
