// The servicecomb_exporter monitoring mixin: Prometheus alerts and recording
// rules and Grafana dashboards for servicecomb_exporter, configured by
// _config (config.libsonnet). See README.md, "Alert rules and dashboards".
//
// Each part is its own file so more can be added (one file per group or
// dashboard): list it below.
local parts =
  (import 'config.libsonnet') +
  (import 'rules/registry.libsonnet') +
  (import 'rules/alertmanager.libsonnet') +
  (import 'rules/services.libsonnet') +
  (import 'alerts/exporter.libsonnet') +
  (import 'alerts/alarms.libsonnet') +
  (import 'alerts/registry.libsonnet') +
  (import 'alerts/alertmanager.libsonnet') +
  (import 'alerts/services.libsonnet') +
  (import 'dashboards/registry.libsonnet') +
  (import 'dashboards/exporter.libsonnet') +
  (import 'dashboards/services.libsonnet');

parts + (import 'lib/runbooks.libsonnet')
