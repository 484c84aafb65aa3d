// The ServiceComb Exporter dashboard: the exporter processes themselves.
local g = import '../lib/grafana.libsonnet';

{
  local cfg = $._config,
  local variables = [
    g.jobVariable(cfg),
    g.instanceVariable,

  ],

  grafanaDashboards+:: {
    'servicecomb-exporter.json': g.dashboard(cfg, 'exporter', 'ServiceComb Exporter', 'Internals of servicecomb_exporter: registry sync and watch, notify bus, Alertmanager delivery, configuration reloads and process.', variables, [
      g.row('Overview', 0),

      g.stat('Version', 'Version of each selected exporter instance, from servicecomb_exporter_build_info.')
      + g.pos(0, 1, 5, 4)
      + g.targets([
        g.instant('count by (version, revision) (servicecomb_exporter_build_info{job=~"$job", instance=~"$instance"})', '{{version}} ({{revision}})'),
      ])
      + {
        options+: { colorMode: 'none', textMode: 'name' },
        fieldConfig+: { defaults+: { thresholds: g.steps([['green']]) } },
      },

      g.stat('Exporters up', 'Selected exporter instances that Prometheus scraped successfully (up metric).')
      + g.pos(5, 1, 4, 4)
      + g.targets([
        g.instant('sum(up{job=~"$job", instance=~"$instance"})', 'up'),
        g.instant('count(up{job=~"$job", instance=~"$instance"})', 'scraped'),
      ])
      + {
        options+: { textMode: 'value_and_name' },
      },

      g.stat('Healthy', "Whether the exporter's health check passes; the worst selected instance is shown.", 'none')
      + g.pos(9, 1, 3, 4)
      + g.targets([
        g.instant('min(servicecomb_healthy{job=~"$job", instance=~"$instance"})', 'healthy'),
      ])
      + {
        fieldConfig+: { defaults+: { mappings: g.valueMapping([['1', 'Healthy', 'green'], ['0', 'Unhealthy', 'red']]), thresholds: g.steps([['red'], ['green', 1]]) } },
      },

      g.stat('Last reload successful', 'Whether the last configuration load or reload succeeded; the worst selected instance is shown.', 'none')
      + g.pos(12, 1, 4, 4)
      + g.targets([
        g.instant('min(servicecomb_exporter_config_last_reload_successful{job=~"$job", instance=~"$instance"})', 'reload'),
      ])
      + {
        fieldConfig+: { defaults+: { mappings: g.valueMapping([['1', 'Success', 'green'], ['0', 'Failed', 'red']]), thresholds: g.steps([['red'], ['green', 1]]) } },
      },

      g.stat('Last successful reload', 'Time of the oldest last successful configuration load among the selected instances.', 'dateTimeAsIso')
      + g.pos(16, 1, 5, 4)
      + g.targets([
        g.instant('1000 * min(servicecomb_exporter_config_last_reload_success_timestamp_seconds{job=~"$job", instance=~"$instance"})', 'time'),
      ])
      + {
        options+: { colorMode: 'none' },
        fieldConfig+: { defaults+: { thresholds: g.steps([['green']]) } },
      },

      g.stat('Alertmanagers', 'Alertmanagers the exporter forwards alarm transitions to.')
      + g.pos(21, 1, 3, 4)
      + g.targets([
        g.instant('max(servicecomb_alertmanager_alertmanagers{job=~"$job", instance=~"$instance"})', 'alertmanagers'),
      ])
      + {
        options+: { colorMode: 'none' },
        fieldConfig+: { defaults+: { thresholds: g.steps([['green']]) } },
      },

      g.row('Registry sync and watch', 5),

      g.timeseries('Sync duration', 'Duration of the last complete read of each registry source.', 's')
      + g.pos(0, 6, 8, 8)
      + g.targets([
        g.query('servicecomb_registry_sync_duration_seconds{job=~"$job", instance=~"$instance"}', '{{source}} {{instance}}'),
      ]),

      g.timeseries('Syncs by result', 'Complete reads of the registry per second, by source and result (success or failure).', 'ops')
      + g.pos(8, 6, 8, 8)
      + g.targets([
        g.query('sum by (source, result) (rate(servicecomb_registry_syncs_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))', '{{source}} {{result}}'),
      ])
      + {
        fieldConfig+: { overrides: [{ matcher: { id: 'byRegexp', options: '.*failure' }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'red' } }] }] },
      },

      g.timeseries('Last sync age', 'Time since the last complete read of each registry source (sources never synced are left out).', 's')
      + g.pos(16, 6, 8, 8)
      + g.targets([
        g.query('time() - (servicecomb_registry_last_sync_timestamp_seconds{job=~"$job", instance=~"$instance"} > 0)', '{{source}} {{instance}}'),
      ]),

      g.timeseries('Watch events by kind and type', 'Registry changes applied from the watch per second, by source, kind of key and event type.', 'ops')
      + g.pos(0, 14, 8, 8)
      + g.targets([
        g.query('sum by (source, kind, type) (rate(servicecomb_registry_watch_events_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))', '{{source}} {{kind}} {{type}}'),
      ]),

      g.bars('Decode errors', 'Registry keys or values skipped because they cannot be counted, per interval, by source and kind.')
      + g.pos(8, 14, 8, 8)
      + g.targets([
        g.query('sum by (source, kind) (increase(servicecomb_registry_decode_errors_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))', '{{source}} {{kind}}'),
      ]),

      g.stateTimeline('Source up over time', 'Whether each source reached its registry backend at its last attempt, over time.', g.valueMapping([['1', 'Up', 'green'], ['0', 'Down', 'red']]))
      + g.pos(16, 14, 8, 8)
      + g.targets([
        g.query('servicecomb_registry_source_up{job=~"$job", instance=~"$instance"}', '{{source}} {{instance}}'),
      ]),

      g.row('Notify bus', 22),

      g.timeseries('Notify queue length vs capacity', "Events waiting in each notify bus queue, against the queue's capacity (dashed).")
      + g.pos(0, 23, 8, 8)
      + g.targets([
        g.query('sum by (type) (servicecomb_notify_queue_length{job=~"$job", instance=~"$instance"})', '{{type}} length'),
        g.query('sum by (type) (servicecomb_notify_queue_capacity{job=~"$job", instance=~"$instance"})', '{{type}} capacity'),
      ])
      + {
        fieldConfig+: { overrides: [{ matcher: { id: 'byRegexp', options: '.* capacity' }, properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }, { id: 'custom.fillOpacity', value: 0 }] }] },
      },

      g.timeseries('Notify queue fill ratio', 'Fill ratio of each notify bus queue (length divided by capacity) per instance.', 'percentunit')
      + g.pos(8, 23, 8, 8)
      + g.targets([
        g.query('servicecomb_notify_queue_length{job=~"$job", instance=~"$instance"} / servicecomb_notify_queue_capacity{job=~"$job", instance=~"$instance"}', '{{type}} {{instance}}'),
      ])
      + {
        fieldConfig+: { defaults+: { thresholds: g.steps([['green'], ['red', 0.8]]), min: 0, max: 1 } },
      },

      g.timeseries('Events published', 'Events published on the notify bus per second, by type.', 'ops')
      + g.pos(16, 23, 8, 8)
      + g.targets([
        g.query('sum by (type) (rate(servicecomb_notify_events_published_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))', '{{type}}'),
      ]),

      g.bars('Events dropped', 'Events dropped by the notify bus per interval, by type.')
      + g.pos(0, 31, 8, 8)
      + g.targets([
        g.query('sum by (type) (increase(servicecomb_notify_events_dropped_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))', '{{type}}'),
      ]),

      g.timeseries('Subscribers', 'Subscribers of the notify bus, by type.')
      + g.pos(8, 31, 8, 8)
      + g.targets([
        g.query('sum by (type) (servicecomb_notify_subscribers{job=~"$job", instance=~"$instance"})', '{{type}}'),
      ]),

      g.bars('Subscribers removed', 'Subscribers removed from the notify bus per interval, by type.')
      + g.pos(16, 31, 8, 8)
      + g.targets([
        g.query('sum by (type) (increase(servicecomb_notify_subscribers_removed_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))', '{{type}}'),
      ]),

      g.row('Alertmanager delivery', 39),

      g.timeseries('Notifications sent and errors', 'Alerts sent to each Alertmanager per second (successfully or not) and failed sends.', 'ops')
      + g.pos(0, 40, 8, 8)
      + g.targets([
        g.query('sum by (alertmanager) (rate(servicecomb_alertmanager_notifications_sent_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))', '{{alertmanager}} sent'),
        g.query('sum by (alertmanager) (rate(servicecomb_alertmanager_notifications_errors_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))', '{{alertmanager}} errors'),
      ])
      + {
        fieldConfig+: { overrides: [{ matcher: { id: 'byRegexp', options: '.* errors' }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'red' } }] }] },
      },

      g.timeseries('Error ratio', 'Share of alerts sent to each Alertmanager whose sending failed.', 'percentunit')
      + g.pos(8, 40, 8, 8)
      + g.targets([
        g.query('sum by (alertmanager) (rate(servicecomb_alertmanager_notifications_errors_total{job=~"$job", instance=~"$instance"}[$__rate_interval])) / sum by (alertmanager) (rate(servicecomb_alertmanager_notifications_sent_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))', '{{alertmanager}}'),
      ])
      + {
        fieldConfig+: { defaults+: { thresholds: g.steps([['green'], ['red', 0.05]]), min: 0, max: 1 } },
      },

      g.timeseries('Latency p99 and p50', '99th and 50th percentile latency of sending a batch of alerts to each Alertmanager.', 's')
      + g.pos(16, 40, 8, 8)
      + g.targets([
        g.query('histogram_quantile(0.99, sum by (alertmanager, le) (rate(servicecomb_alertmanager_notifications_latency_seconds_bucket{job=~"$job", instance=~"$instance"}[$__rate_interval])))', '{{alertmanager}} p99'),
        g.query('histogram_quantile(0.5, sum by (alertmanager, le) (rate(servicecomb_alertmanager_notifications_latency_seconds_bucket{job=~"$job", instance=~"$instance"}[$__rate_interval])))', '{{alertmanager}} p50'),
      ]),

      g.timeseries('Alertmanager queue length vs capacity', "Alerts waiting in each Alertmanager queue per instance, against the queue's capacity (dashed).")
      + g.pos(0, 48, 12, 8)
      + g.targets([
        g.query('servicecomb_alertmanager_notifications_queue_length{job=~"$job", instance=~"$instance"}', '{{alertmanager}} {{instance}} length'),
        g.query('servicecomb_alertmanager_notifications_queue_capacity{job=~"$job", instance=~"$instance"}', '{{alertmanager}} {{instance}} capacity'),
      ])
      + {
        fieldConfig+: { overrides: [{ matcher: { id: 'byRegexp', options: '.* capacity' }, properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }, { id: 'custom.fillOpacity', value: 0 }] }] },
      },

      g.bars('Notifications dropped', 'Alerts dropped from a full Alertmanager queue per interval (the oldest go first).')
      + g.pos(12, 48, 12, 8)
      + g.targets([
        g.query('sum by (alertmanager) (increase(servicecomb_alertmanager_notifications_dropped_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))', '{{alertmanager}}'),
      ]),

      g.row('Configuration reloads', 56),

      g.stateTimeline('Reload status over time', 'Whether the last configuration load or reload of each instance succeeded, over time.', g.valueMapping([['1', 'Success', 'green'], ['0', 'Failed', 'red']]))
      + g.pos(0, 57, 12, 8)
      + g.targets([
        g.query('servicecomb_exporter_config_last_reload_successful{job=~"$job", instance=~"$instance"}', '{{instance}}'),
      ]),

      g.bars('Reloads by result', 'Configuration loads and reloads per interval, by result; failures leave the running configuration in force.')
      + g.pos(12, 57, 12, 8)
      + g.targets([
        g.query('sum by (result) (increase(servicecomb_exporter_config_reloads_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))', '{{result}}'),
      ])
      + {
        fieldConfig+: { overrides: [{ matcher: { id: 'byName', options: 'failure' }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'red' } }] }, { matcher: { id: 'byName', options: 'success' }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'green' } }] }] },
      },

      g.row('Process', 65),

      g.timeseries('Memory', 'Resident memory and Go heap in use of each exporter instance.', 'bytes')
      + g.pos(0, 66, 8, 8)
      + g.targets([
        g.query('process_resident_memory_bytes{job=~"$job", instance=~"$instance"}', '{{instance}} RSS'),
        g.query('go_memstats_heap_inuse_bytes{job=~"$job", instance=~"$instance"}', '{{instance}} heap in use'),
      ]),

      g.timeseries('CPU', 'CPU used by each exporter instance, as a share of one core.', 'percentunit')
      + g.pos(8, 66, 8, 8)
      + g.targets([
        g.query('rate(process_cpu_seconds_total{job=~"$job", instance=~"$instance"}[$__rate_interval])', '{{instance}}'),
      ]),

      g.timeseries('Goroutines', 'Goroutines of each exporter instance.')
      + g.pos(16, 66, 8, 8)
      + g.targets([
        g.query('go_goroutines{job=~"$job", instance=~"$instance"}', '{{instance}}'),
      ]),

      g.timeseries('Open file descriptors', 'Open file descriptors of each exporter instance.')
      + g.pos(0, 74, 12, 8)
      + g.targets([
        g.query('process_open_fds{job=~"$job", instance=~"$instance"}', '{{instance}}'),
      ]),

      g.timeseries('Metrics scrapes by code', 'Requests to the metrics endpoint per second, by HTTP status code.', 'reqps')
      + g.pos(12, 74, 12, 8)
      + g.targets([
        g.query('sum by (instance, code) (rate(promhttp_metric_handler_requests_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))', '{{instance}} {{code}}'),
      ]),

    ]),
  },
}
