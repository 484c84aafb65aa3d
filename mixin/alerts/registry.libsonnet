// Alerts about the registry sources and the registry's contents. Alerts on
// contents use the recording rules of rules/registry.libsonnet, which take
// the max over exporter replicas.
{
  prometheusAlerts+:: {
    groups+: [{
      name: 'servicecomb.registry',
      rules: [
        {
          alert: 'ServiceCombRegistrySourceDown',
          expr: |||
            servicecomb_registry_source_up{%(servicecombSelector)s} == 0
          ||| % $._config,
          'for': $._config.sourceDownFor,
          labels: { severity: 'critical' },
          annotations: {
            summary: 'A registry source cannot reach its backend.',
            description: 'Source {{ $labels.source }} of {{ $labels.instance }} failed to reach its registry backend at its last attempt; its counts are frozen.',
          },
        },
        {
          // A watching (etcd) source lists the registry only at start and after a
          // failure, so an old last sync alone is normal: alert only when the
          // source is also down or failing to list.
          alert: 'ServiceCombRegistrySyncStale',
          expr: |||
            (
              time() - servicecomb_registry_last_sync_timestamp_seconds{%(servicecombSelector)s}
                > %(syncStaleSeconds)g
            )
            and servicecomb_registry_last_sync_timestamp_seconds{%(servicecombSelector)s} > 0
            and on (job, instance, source) (
              servicecomb_registry_source_up{%(servicecombSelector)s} == 0
              or
              rate(servicecomb_registry_syncs_total{%(servicecombSelector)s, result="failure"}[5m]) > 0
            )
          ||| % $._config,
          'for': $._config.syncStaleFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Registry counts are stale.',
            description: 'Source {{ $labels.source }} of {{ $labels.instance }} last listed the registry {{ $value | humanizeDuration }} ago and is not following it now (down or failing to list).',
          },
        },
        {
          alert: 'ServiceCombRegistryNeverSynced',
          expr: |||
            servicecomb_registry_last_sync_timestamp_seconds{%(servicecombSelector)s} == 0
          ||| % $._config,
          'for': $._config.neverSyncedFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'A registry source has never completed a sync.',
            description: 'Source {{ $labels.source }} of {{ $labels.instance }} has not completed a full list of the registry since the exporter started; it exports no registry counts.',
          },
        },
        {
          // Value: the share of instances lost since the start of the window. A
          // domain whose instances all vanished counts as 0 now (its series
          // disappear at 0).
          alert: 'ServiceCombRegistryInstancesDrop',
          expr: |||
            (
              servicecomb:registry_instances:sum_by_source_domain_offset
              -
              (
                servicecomb:registry_instances:sum_by_source_domain
                or
                servicecomb:registry_instances:sum_by_source_domain_offset * 0
              )
            )
            / servicecomb:registry_instances:sum_by_source_domain_offset
              > %(instancesDropRatio)g
            and servicecomb:registry_instances:sum_by_source_domain_offset
              >= %(instancesDropMinBaseline)g
            and on (job, source) servicecomb:registry_source_up:max_by_source == 1
          ||| % $._config,
          'for': $._config.instancesDropFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'The number of registered instances dropped sharply.',
            description: 'Domain {{ $labels.domain }} of source {{ $labels.source }} has {{ $value | humanizePercentage }} fewer instances than at the start of the comparison window.',
          },
        },
        {
          alert: 'ServiceCombRegistryNoUpInstances',
          expr: |||
            servicecomb:registry_services:sum_by_source_domain > 0
            unless on (job, source, domain)
              servicecomb:registry_instances:sum_by_source_domain_status{status="UP"} > 0
            and on (job, source) servicecomb:registry_source_up:max_by_source == 1
          |||,
          'for': $._config.noUpInstancesFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'A domain has services but no instance in status UP.',
            description: 'Domain {{ $labels.domain }} of source {{ $labels.source }} has {{ $value | humanize }} services and no UP instance.',
          },
        },
        {
          alert: 'ServiceCombRegistryInstancesDown',
          expr: |||
            servicecomb:registry_instances:ratio_by_source_domain_status{status="DOWN"}
              > %(instancesDownRatio)g
          ||| % $._config,
          'for': $._config.instancesDownFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Many registered instances are DOWN.',
            description: '{{ $value | humanizePercentage }} of the instances of domain {{ $labels.domain }} of source {{ $labels.source }} are DOWN.',
          },
        },
      ],
    }],
  },
}
