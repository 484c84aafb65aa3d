// Defaults of the servicecomb_exporter mixin. Override any of them when you
// import the mixin:
//
//   (import 'servicecomb-mixin/mixin.libsonnet') + {
//     _config+:: { servicecombSelector: 'job="my-servicecomb"', instancesDropRatio: 0.4 },
//   }
//
// Durations are Prometheus durations ('5m', '1h'); ratios are fractions (0.3 = 30 %).
{
  _config+:: {
    // Selects the exporter's series in every rule (and the dashboards' job
    // variable). It must match the job Prometheus scrapes the exporter under.
    servicecombSelector: 'job=~"servicecomb.*"',

    // Alert thresholds and `for:` durations, by alert.
    exporterDownFor: '5m',  // ServiceCombExporterDown
    exporterAbsentFor: '5m',  // ServiceCombExporterAbsent
    configReloadFailedFor: '10m',  // ServiceCombConfigReloadFailed
    alarmActiveFor: '1m',  // ServiceCombAlarmActive
    // Regex of Service Center alarm ids whose alert is critical; the others are warning.
    alarmCriticalIDs: 'BackendConnectionRefuse|AuthenticationFailed',
    sourceDownFor: '5m',  // ServiceCombRegistrySourceDown
    syncStaleSeconds: 900,  // ServiceCombRegistrySyncStale: age of the last full list
    syncStaleFor: '5m',  // ServiceCombRegistrySyncStale
    neverSyncedFor: '15m',  // ServiceCombRegistryNeverSynced
    // ServiceCombRegistryInstancesDrop: fires when a domain lost more than
    // instancesDropRatio of its instances since instancesDropWindow ago,
    // ignoring domains that had fewer than instancesDropMinBaseline.
    instancesDropWindow: '30m',
    instancesDropRatio: 0.30,
    instancesDropMinBaseline: 10,
    instancesDropFor: '5m',
    noUpInstancesFor: '15m',  // ServiceCombRegistryNoUpInstances
    instancesDownRatio: 0.20,  // ServiceCombRegistryInstancesDown (fires above)
    instancesDownFor: '15m',
    alertmanagerErrorsRatio: 0.01,  // ServiceCombAlertmanagerNotificationErrors (fires above)
    alertmanagerErrorsFor: '15m',
    // ServiceCombAlertmanagerNotificationQueueFilling: the queue length over
    // alertmanagerQueuePredictRange, extrapolated alertmanagerQueuePredictHorizon
    // seconds ahead, reaches the queue's capacity.
    alertmanagerQueuePredictRange: '30m',
    alertmanagerQueuePredictHorizon: 3600,
    alertmanagerQueueFor: '15m',

    // Each alert links to its section: the alert name in lower case fills %s.
    runbookURLPattern: 'https://github.com/servicecomb/servicecomb_exporter/blob/main/docs/runbooks.md#%s',

    // Dashboards.
    dashboardUIDPrefix: 'servicecomb-',  // uid = prefix + 'registry' / 'exporter'
    dashboardTags: ['servicecomb', 'prometheus'],  // also link the dashboards to each other
    dashboardRefresh: '30s',
    dashboardPeriod: 'now-6h',
    dashboardTimezone: 'browser',
  },
}
