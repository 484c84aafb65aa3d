// Service Center's own alarms (and the exporter's), forwarded as alerts.
{
  prometheusAlerts+:: {
    groups+: [{
      name: 'servicecomb.alarms',
      rules: [{
        // Severity per alarm id: ids matching alarmCriticalIDs are critical,
        // every other id is warning.
        alert: 'ServiceCombAlarmActive',
        expr: |||
          label_replace(
            label_replace(
              servicecomb_alarm_active{%(servicecombSelector)s} == 1,
              "severity", "warning", "severity", ""
            ),
            "severity", "critical", "id",
            "%(alarmCriticalIDs)s"
          )
        ||| % $._config,
        'for': $._config.alarmActiveFor,
        annotations: {
          summary: 'A Service Center alarm is active.',
          description: 'Alarm {{ $labels.id }}{{ if $labels.source }} from Service Center {{ $labels.source }}{{ else }} of the exporter itself{{ end }} is active on {{ $labels.instance }}.',
        },
      }],
    }],
  },
}
