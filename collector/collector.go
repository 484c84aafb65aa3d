// Package collector turns the exporter's state into Prometheus metrics.
//
// Each collector reads its source on every scrape and builds fresh constant
// metrics, so that an alarm removed from the list or a subscriber type that
// went away leaves no stale series behind. Collectors depend on small
// interfaces, defined here, rather than on the packages that implement them.
package collector

// Namespace prefixes every metric the exporter exposes.
const Namespace = "servicecomb"
