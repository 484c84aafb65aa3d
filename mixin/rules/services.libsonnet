// Recording rules over the per-service metrics (issue #11; names and labels
// in docs/service-metrics.md). Like rules/registry.libsonnet they take the max
// over exporter replicas, so two exporters watching one registry give one
// series. A service is identified by job, source, domain, project,
// environment, app, service and version.
{
  prometheusRules+:: {
    groups+: [
      {
        name: 'servicecomb.services.recording',
        rules: [
          {
            // UP instances of each service (0 when none is UP).
            record: 'servicecomb:service_instances_up:max',
            expr: |||
              max without (instance, status) (servicecomb_service_instances{%(servicecombSelector)s, status="UP"})
            ||| % $._config,
          },
          {
            // 1 while a service has at least one UP instance, else 0: the
            // cheap series the availability ratios average.
            record: 'servicecomb:service_up:bool',
            expr: |||
              servicecomb:service_instances_up:max > bool 0
            |||,
          },
          {
            // Fraction of the last hour in which the service had an UP
            // instance (of the time it was listed at all).
            record: 'servicecomb:service_availability:ratio_1h',
            expr: |||
              avg_over_time(servicecomb:service_up:bool[1h])
            |||,
          },
          {
            // Instance deregistrations per second of each domain and project
            // over the churn window (labels: job, source, domain, project).
            record: 'servicecomb:registry_instance_deregistrations:rate',
            expr: |||
              max without (instance) (
                rate(servicecomb_registry_instance_deregistrations_total{%(servicecombSelector)s}[%(instanceChurnWindow)s])
              )
            ||| % $._config,
          },
          {
            // UP replicas of Service Center itself (its SERVICECENTER service).
            record: 'servicecomb:service_center_instances_up:max',
            expr: |||
              max without (instance, status) (servicecomb_service_center_instances{%(servicecombSelector)s, status="UP"})
            ||| % $._config,
          },
        ],
      },
      {
        // Long ranges, read at a coarse step from the series above: the 30d
        // ratio reads 720 hourly points per service instead of every sample
        // of 30 days. The hourly points do not overlap, so their average is
        // the average over the whole range. Until the first point exists (a
        // new service, a new Prometheus) they fall back to the short series.
        name: 'servicecomb.services.availability',
        interval: $._config.availabilitySlowInterval,
        rules: [
          {
            record: 'servicecomb:service_availability:ratio_1d',
            expr: |||
              avg_over_time(servicecomb:service_availability:ratio_1h[1d:1h])
                or servicecomb:service_availability:ratio_1h
            |||,
          },
          {
            record: 'servicecomb:service_availability:ratio_30d',
            expr: |||
              avg_over_time(servicecomb:service_availability:ratio_1h[30d:1h])
                or servicecomb:service_availability:ratio_1h
            |||,
          },
          {
            // The churn alert's baseline: the average deregistration rate
            // over instanceChurnBaseline, from non-overlapping windows.
            record: 'servicecomb:registry_instance_deregistrations:rate_baseline',
            expr: |||
              avg_over_time(servicecomb:registry_instance_deregistrations:rate[%(instanceChurnBaseline)s:%(instanceChurnWindow)s])
                or servicecomb:registry_instance_deregistrations:rate
            ||| % $._config,
          },
        ],
      },
    ],
  },
}
