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

    // Per-service health (issue #11). The metrics these read are named in
    // docs/service-metrics.md.
    // ServiceCombServiceNoInstancesUp: a service that had an UP instance
    // within serviceNoInstancesUpLookback has none for serviceNoInstancesUpFor
    // (it keeps firing past the lookback until an instance is UP again or the
    // service is deleted).
    serviceNoInstancesUpLookback: '1h',
    serviceNoInstancesUpFor: '5m',
    // ServiceCombServiceInstancesDropping: a service's UP instances fell by
    // more than serviceInstancesDropRatio from their peak within
    // serviceInstancesDropWindow, for services whose peak was at least
    // serviceInstancesDropMinBaseline.
    serviceInstancesDropWindow: '10m',
    serviceInstancesDropRatio: 0.5,
    serviceInstancesDropMinBaseline: 4,
    serviceInstancesDropFor: '2m',
    // ServiceCombInstanceChurnHigh: deregistrations per second of a domain and
    // project over instanceChurnWindow run above instanceChurnFactor times
    // their average over instanceChurnBaseline, and above
    // instanceChurnMinPerMinute (so that a quiet project does not page on its
    // first few deregistrations).
    instanceChurnWindow: '10m',
    instanceChurnBaseline: '1d',
    instanceChurnFactor: 3,
    instanceChurnMinPerMinute: 1,
    instanceChurnFor: '15m',
    // ServiceCombServiceCenterReplicasDown: fewer UP Service Center replicas
    // than at any time within serviceCenterReplicasLookback.
    serviceCenterReplicasLookback: '1h',
    serviceCenterReplicasDownFor: '5m',
    quotaUsageRatio: 0.9,  // ServiceCombQuotaNearlyExhausted (fires above)
    quotaFor: '15m',
    serviceSeriesDroppedFor: '5m',  // ServiceCombServiceSeriesDropped
    // The per-service availability rules over 1d and 30d run in their own
    // group at this interval: they change slowly and read much.
    availabilitySlowInterval: '5m',

    // Each alert links to its section: the alert name in lower case fills %s.
    runbookURLPattern: 'https://github.com/servicecomb/servicecomb_exporter/blob/main/docs/runbooks.md#%s',

    // Dashboards.
    dashboardUIDPrefix: 'servicecomb-',  // uid = prefix + 'registry' / 'exporter' / 'services'
    dashboardTags: ['servicecomb', 'prometheus'],  // also link the dashboards to each other
    dashboardRefresh: '30s',
    dashboardPeriod: 'now-6h',
    dashboardTimezone: 'browser',
  },
}
