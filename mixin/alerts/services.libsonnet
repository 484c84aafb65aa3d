// Alerts on per-service health, Service Center's replicas and quotas, and the
// per-service series cap (issue #11; metric names and labels in
// docs/service-metrics.md). They use the recording rules of
// rules/services.libsonnet.
{
  local cfg = $._config,
  // The labels that identify one service.
  local service = 'job, source, domain, project, environment, app, service, version',

  prometheusAlerts+:: {
    groups+: [{
      name: 'servicecomb.services',
      rules: [
        {
          // "Had an UP instance within the lookback" keeps services that
          // never had one (registered ahead of their deployment) quiet. Once
          // firing, the alert's own series holds it past the lookback: it
          // resolves when an instance is UP again or the service is deleted.
          alert: 'ServiceCombServiceNoInstancesUp',
          expr: |||
            servicecomb:service_up:bool == 0
            and on (%(service)s) (
              max_over_time(servicecomb:service_up:bool[%(lookback)s]) == 1
              or on (%(service)s)
              ALERTS{alertname="ServiceCombServiceNoInstancesUp", alertstate="firing"}
            )
            and on (job, source) servicecomb:registry_source_up:max_by_source == 1
          ||| % { service: service, lookback: cfg.serviceNoInstancesUpLookback },
          'for': cfg.serviceNoInstancesUpFor,
          labels: { severity: 'critical' },
          annotations: {
            summary: 'A service has no instance in status UP.',
            description: 'Service {{ $labels.service }} {{ $labels.version }} (app {{ $labels.app }}, environment "{{ $labels.environment }}") in domain {{ $labels.domain }}, project {{ $labels.project }} of source {{ $labels.source }} had UP instances and has none now.',
          },
        },
        {
          // Value: the share of the window's peak of UP instances that is gone.
          alert: 'ServiceCombServiceInstancesDropping',
          expr: |||
            (
              max_over_time(servicecomb:service_instances_up:max[%(serviceInstancesDropWindow)s])
              - servicecomb:service_instances_up:max
            )
            / max_over_time(servicecomb:service_instances_up:max[%(serviceInstancesDropWindow)s])
              > %(serviceInstancesDropRatio)g
            and max_over_time(servicecomb:service_instances_up:max[%(serviceInstancesDropWindow)s])
              >= %(serviceInstancesDropMinBaseline)g
            and on (job, source) servicecomb:registry_source_up:max_by_source == 1
          ||| % cfg,
          'for': cfg.serviceInstancesDropFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'A service lost most of its UP instances in a few minutes.',
            description: 'Service {{ $labels.service }} {{ $labels.version }} (app {{ $labels.app }}) in domain {{ $labels.domain }}, project {{ $labels.project }} of source {{ $labels.source }} has {{ $value | humanizePercentage }} fewer UP instances than at its peak of the last %(serviceInstancesDropWindow)s.' % cfg,
          },
        },
        {
          // Value: deregistrations per second over the churn window.
          alert: 'ServiceCombInstanceChurnHigh',
          expr: |||
            servicecomb:registry_instance_deregistrations:rate
              > %(instanceChurnFactor)g * servicecomb:registry_instance_deregistrations:rate_baseline
            and servicecomb:registry_instance_deregistrations:rate * 60
              >= %(instanceChurnMinPerMinute)g
          ||| % cfg,
          'for': cfg.instanceChurnFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Instances deregister much more often than usual.',
            description: 'Domain {{ $labels.domain }}, project {{ $labels.project }} of source {{ $labels.source }} loses {{ $value | humanize }} instances per second, more than %(instanceChurnFactor)g times its average of the last %(instanceChurnBaseline)s: instances flap or crash in a loop.' % cfg,
          },
        },
        {
          // Value: the UP replicas missing since the peak of the lookback.
          alert: 'ServiceCombServiceCenterReplicasDown',
          expr: |||
            (
              max_over_time(servicecomb:service_center_instances_up:max[%(serviceCenterReplicasLookback)s])
              - (
                servicecomb:service_center_instances_up:max
                or
                max_over_time(servicecomb:service_center_instances_up:max[%(serviceCenterReplicasLookback)s]) * 0
              )
            ) > 0
            and on (job, source) servicecomb:registry_source_up:max_by_source == 1
          ||| % cfg,
          'for': cfg.serviceCenterReplicasDownFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Fewer Service Center replicas are UP than earlier.',
            description: 'Source {{ $labels.source }} sees {{ $value }} fewer UP Service Center replicas than at its peak of the last %(serviceCenterReplicasLookback)s.' % cfg,
          },
        },
        {
          // Value: the usage ratio; the quota label says which quota.
          alert: 'ServiceCombQuotaNearlyExhausted',
          expr: |||
            label_replace(
              max without (instance) (servicecomb_registry_service_usage_ratio{%(servicecombSelector)s}),
              "quota", "services", "", ""
            ) > %(quotaUsageRatio)g
            or
            label_replace(
              max without (instance) (servicecomb_registry_instance_usage_ratio{%(servicecombSelector)s}),
              "quota", "instances", "", ""
            ) > %(quotaUsageRatio)g
          ||| % cfg,
          'for': cfg.quotaFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'A registry quota is nearly used up.',
            description: 'Domain {{ $labels.domain }}, project {{ $labels.project }} of source {{ $labels.source }} uses {{ $value | humanizePercentage }} of its {{ $labels.quota }} quota; Service Center refuses new {{ $labels.quota }} at 100 %.',
          },
        },
        {
          alert: 'ServiceCombServiceSeriesDropped',
          expr: |||
            servicecomb_service_series_dropped{%(servicecombSelector)s} > 0
          ||| % cfg,
          'for': cfg.serviceSeriesDroppedFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Per-service metrics are capped: some services have no series.',
            description: '{{ $labels.instance }} leaves {{ $value }} services out of its per-service metrics because the max_services cap is reached.',
          },
        },
      ],
    }],
  },
}
