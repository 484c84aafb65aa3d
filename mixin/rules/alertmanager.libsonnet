// Recording rules over the exporter's deliveries to Alertmanager.
{
  prometheusRules+:: {
    groups+: [{
      name: 'servicecomb.alertmanager.recording',
      rules: [{
        // Failed / attempted alert sends per Alertmanager (sent counts every attempt).
        record: 'servicecomb:alertmanager_notifications_errors:ratio_rate5m',
        expr: |||
          rate(servicecomb_alertmanager_notifications_errors_total{%(servicecombSelector)s}[5m])
            /
          rate(servicecomb_alertmanager_notifications_sent_total{%(servicecombSelector)s}[5m])
        ||| % $._config,
      }],
    }],
  },
}
