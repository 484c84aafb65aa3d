// Alerts about the exporter's deliveries to Alertmanager.
{
  prometheusAlerts+:: {
    groups+: [{
      name: 'servicecomb.alertmanager',
      rules: [
        {
          alert: 'ServiceCombAlertmanagerNotificationErrors',
          expr: |||
            servicecomb:alertmanager_notifications_errors:ratio_rate5m
              > %(alertmanagerErrorsRatio)g
          ||| % $._config,
          'for': $._config.alertmanagerErrorsFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'The exporter fails to send alarms to an Alertmanager.',
            description: '{{ $value | humanizePercentage }} of the alerts {{ $labels.instance }} sent to {{ $labels.alertmanager }} in the last 5 minutes failed.',
          },
        },
        {
          alert: 'ServiceCombAlertmanagerNotificationQueueFilling',
          expr: |||
            predict_linear(servicecomb_alertmanager_notifications_queue_length{%(servicecombSelector)s}[%(alertmanagerQueuePredictRange)s], %(alertmanagerQueuePredictHorizon)g)
            >= on (job, instance, alertmanager)
            servicecomb_alertmanager_notifications_queue_capacity{%(servicecombSelector)s}
          ||| % $._config,
          'for': $._config.alertmanagerQueueFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'An Alertmanager notification queue is predicted to fill up.',
            description: 'At its current growth the queue of {{ $labels.instance }} for {{ $labels.alertmanager }} will reach its capacity within the prediction horizon; then the oldest alerts are dropped.',
          },
        },
        {
          alert: 'ServiceCombAlertmanagerNotificationsDropped',
          expr: |||
            increase(servicecomb_alertmanager_notifications_dropped_total{%(servicecombSelector)s}[5m]) > 0
          ||| % $._config,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Alerts for an Alertmanager were dropped from a full queue.',
            description: '{{ $labels.instance }} dropped {{ $value | humanize }} alerts for {{ $labels.alertmanager }} in the last 5 minutes.',
          },
        },
      ],
    }],
  },
}
