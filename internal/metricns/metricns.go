// Package metricns names the exporter's self-metrics: the namespaces live
// here, once, and every metric is built from one of them with a subsystem
// and a name (prometheus.BuildFQName or the Opts fields), never from a
// literal prefix. The collectors and the forwarder both import it, so that
// neither depends on the other for a name.
package metricns

// Namespace prefixes the metrics about what the exporter watches and does:
// registry, alarms, health, notify bus, Service Center endpoints and
// Alertmanager forwarding.
const Namespace = "servicecomb"

// Exporter prefixes the metrics about the exporter process itself: its
// build and its configuration loads.
const Exporter = Namespace + "_exporter"
