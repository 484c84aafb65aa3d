// Package collector turns the exporter's state into Prometheus metrics.
//
// Each collector reads its source on every scrape and builds fresh constant
// metrics, so that an alarm removed from the list or a subscriber type that
// went away leaves no stale series behind. Collectors depend on small
// interfaces, defined here, rather than on the packages that implement them.
//
// Every self-metric is described here, except the forwarder's vectors,
// which its send loop updates as it goes; all take their namespace from
// internal/metricns.
package collector

import "github.com/servicecomb/servicecomb_exporter/internal/metricns"

// Namespace prefixes the metrics about the registry, alarms and components.
const Namespace = metricns.Namespace
