// Alerts about the exporter processes themselves. They keep the `instance`
// label, so each replica alerts on its own.
{
  prometheusAlerts+:: {
    groups+: [{
      name: 'servicecomb.exporter',
      rules: [
        {
          alert: 'ServiceCombExporterDown',
          expr: |||
            up{%(servicecombSelector)s} == 0
          ||| % $._config,
          'for': $._config.exporterDownFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'A servicecomb_exporter target is down.',
            description: 'Prometheus cannot scrape {{ $labels.instance }} (job {{ $labels.job }}): its registry metrics are missing and it forwards no alarms.',
          },
        },
        {
          alert: 'ServiceCombExporterAbsent',
          expr: |||
            absent(up{%(servicecombSelector)s} == 1)
          ||| % $._config,
          'for': $._config.exporterAbsentFor,
          labels: { severity: 'critical' },
          annotations: {
            summary: 'No servicecomb_exporter target is up.',
            description: 'No target selected by {%(servicecombSelector)s} has been scraped successfully: Service Center is not monitored and no alarm reaches Alertmanager.' % $._config,
          },
        },
        {
          alert: 'ServiceCombConfigReloadFailed',
          expr: |||
            servicecomb_exporter_config_last_reload_successful{%(servicecombSelector)s} == 0
          ||| % $._config,
          'for': $._config.configReloadFailedFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'The servicecomb_exporter configuration failed to reload.',
            description: 'The last configuration reload of {{ $labels.instance }} failed; it keeps running with the configuration it loaded before.',
          },
        },
        {
          alert: 'ServiceCombNotifyEventsDropped',
          expr: |||
            increase(servicecomb_notify_events_dropped_total{%(servicecombSelector)s}[5m]) > 0
          ||| % $._config,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'The servicecomb_exporter notify bus is dropping events.',
            description: '{{ $labels.instance }} dropped {{ $value | humanize }} {{ $labels.type }} events in the last 5 minutes because a queue was full.',
          },
        },
      ],
    }],
  },
}
