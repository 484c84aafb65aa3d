// The ServiceComb Registry dashboard: what the registries hold, per source and domain.
local g = import '../lib/grafana.libsonnet';

{
  local cfg = $._config,
  local variables = [
    g.jobVariable(cfg),
    g.instanceVariable,
    g.variable('source', 'Source', 'label_values(servicecomb_registry_source_up{job=~"$job"}, source)'),
    g.variable('domain', 'Domain', 'label_values(servicecomb_registry_projects{job=~"$job", source=~"$source"}, domain)'),
  ],

  grafanaDashboards+:: {
    'servicecomb-registry.json': g.dashboard(cfg, 'registry', 'ServiceComb Registry', 'Apache ServiceComb Service Center registries as seen by servicecomb_exporter: health, alarms, domains, projects, services and instances.', variables, [
      g.row('Health and sources', 0),

      g.stat('Healthy', "Whether the exporter's health check passes (servicecomb_healthy); the worst selected instance is shown.", 'none')
      + g.pos(0, 1, 4, 4)
      + g.targets([
        g.instant('min(servicecomb_healthy{job=~"$job", instance=~"$instance"})', 'healthy'),
      ])
      + {
        fieldConfig+: { defaults+: { mappings: g.valueMapping([['1', 'Healthy', 'green'], ['0', 'Unhealthy', 'red']]), thresholds: g.steps([['red'], ['green', 1]]) } },
      },

      g.stat('Sources up', 'Registry sources whose backend was reached at the last attempt, out of all selected sources.')
      + g.pos(4, 1, 5, 4)
      + g.targets([
        g.instant('sum(max without (instance) (servicecomb_registry_source_up{job=~"$job", instance=~"$instance", source=~"$source"}))', 'up'),
        g.instant('count(max without (instance) (servicecomb_registry_source_up{job=~"$job", instance=~"$instance", source=~"$source"}))', 'configured'),
      ])
      + {
        options+: { textMode: 'value_and_name' },
      },

      g.stat('Last sync age', 'Time since the oldest last complete read of the registry among the selected sources and instances.', 's')
      + g.pos(9, 1, 5, 4)
      + g.targets([
        g.instant('max(time() - (servicecomb_registry_last_sync_timestamp_seconds{job=~"$job", instance=~"$instance", source=~"$source"} > 0))', 'age'),
      ])
      + {
        fieldConfig+: { defaults+: { thresholds: g.steps([['green'], ['orange', 600], ['red', 1800]]) } },
      },

      g.stat('Active alarm count', 'Alarms of the alarm center that are active now (cleared alarms still listed are not counted).')
      + g.pos(14, 1, 5, 4)
      + g.targets([
        g.instant('sum(max by (id, source) (servicecomb_alarm_active{job=~"$job", instance=~"$instance"}))', 'active'),
      ])
      + {
        fieldConfig+: { defaults+: { thresholds: g.steps([['green'], ['red', 1]]), noValue: '0' } },
      },

      g.stat('Exporters up', 'Selected exporter instances that Prometheus scraped successfully (up metric).')
      + g.pos(19, 1, 5, 4)
      + g.targets([
        g.instant('sum(up{job=~"$job", instance=~"$instance"})', 'up'),
        g.instant('count(up{job=~"$job", instance=~"$instance"})', 'scraped'),
      ])
      + {
        options+: { textMode: 'value_and_name' },
      },

      g.table('Active alarms', 'Alarms of the alarm center that are active now, with the time of their last transition.')
      + g.pos(0, 5, 12, 8)
      + g.targets([
        g.tableQuery('max by (job, instance, id, source) (servicecomb_alarm_active{job=~"$job", instance=~"$instance"} == 1)'),
        g.tableQuery('1000 * max by (job, instance, id, source) (servicecomb_alarm_last_transition_timestamp_seconds{job=~"$job", instance=~"$instance"} and on (job, instance, id, source) (servicecomb_alarm_active{job=~"$job", instance=~"$instance"} == 1))'),
      ])
      + {
        options+: { sortBy: [{ displayName: 'Active since', desc: true }] },
        fieldConfig+: { defaults+: { noValue: 'No active alarm' }, overrides: [{ matcher: { id: 'byName', options: 'Active since' }, properties: [{ id: 'unit', value: 'dateTimeAsIso' }] }] },
        transformations: [{ id: 'merge', options: {} }, { id: 'organize', options: { excludeByName: { Time: true, __name__: true, job: true, 'Value #A': true }, indexByName: { id: 0, source: 1, instance: 2, 'Value #B': 3 }, renameByName: { id: 'Alarm', source: 'Alarm source', instance: 'Exporter instance', 'Value #B': 'Active since' } } }],
      },

      g.table('Sources', 'State of each registry source on each exporter instance: reachable, time since last sync, last sync duration.')
      + g.pos(12, 5, 12, 8)
      + g.targets([
        g.tableQuery('max by (job, instance, source) (servicecomb_registry_source_up{job=~"$job", instance=~"$instance", source=~"$source"})'),
        g.tableQuery('time() - max by (job, instance, source) (servicecomb_registry_last_sync_timestamp_seconds{job=~"$job", instance=~"$instance", source=~"$source"} > 0)'),
        g.tableQuery('max by (job, instance, source) (servicecomb_registry_sync_duration_seconds{job=~"$job", instance=~"$instance", source=~"$source"})'),
      ])
      + {
        fieldConfig+: { overrides: [{ matcher: { id: 'byName', options: 'Up' }, properties: [{ id: 'unit', value: 'none' }, { id: 'mappings', value: [{ type: 'value', options: { '1': { text: 'Up', color: 'green', index: 0 }, '0': { text: 'Down', color: 'red', index: 1 } } }] }, { id: 'custom.cellOptions', value: { type: 'color-background' } }] }, { matcher: { id: 'byName', options: 'Last sync age' }, properties: [{ id: 'unit', value: 's' }] }, { matcher: { id: 'byName', options: 'Sync duration' }, properties: [{ id: 'unit', value: 's' }] }] },
        transformations: [{ id: 'merge', options: {} }, { id: 'organize', options: { excludeByName: { Time: true, __name__: true, job: true }, indexByName: { source: 0, instance: 1, 'Value #A': 2, 'Value #B': 3, 'Value #C': 4 }, renameByName: { source: 'Source', instance: 'Exporter instance', 'Value #A': 'Up', 'Value #B': 'Last sync age', 'Value #C': 'Sync duration' } } }],
      },

      g.row('Totals', 13),

      g.stat('Domains', 'Domains (tenants) in the selected sources; not narrowed by the domain variable.')
      + g.pos(0, 14, 4, 4)
      + g.targets([
        g.query('sum(max without (instance) (servicecomb_registry_domains{job=~"$job", instance=~"$instance", source=~"$source"}))', 'domains'),
      ])
      + {
        options+: { graphMode: 'area' },
      },

      g.stat('Projects', 'Projects in the selected sources and domains.')
      + g.pos(4, 14, 4, 4)
      + g.targets([
        g.query('sum(max without (instance) (servicecomb_registry_projects{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))', 'projects'),
      ])
      + {
        options+: { graphMode: 'area' },
      },

      g.stat('Services', 'Microservices in the selected sources and domains.')
      + g.pos(8, 14, 4, 4)
      + g.targets([
        g.query('sum(max without (instance) (servicecomb_registry_services{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))', 'services'),
      ])
      + {
        options+: { graphMode: 'area' },
      },

      g.stat('Instances', 'Microservice instances in the selected sources and domains, whatever their status.')
      + g.pos(12, 14, 4, 4)
      + g.targets([
        g.query('sum(max without (instance) (servicecomb_registry_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))', 'instances'),
      ])
      + {
        options+: { graphMode: 'area' },
      },

      g.stat('Instances UP', 'Share of instances in status UP in the selected sources and domains.', 'percentunit')
      + g.pos(16, 14, 4, 4)
      + g.targets([
        g.query('sum(max without (instance) (servicecomb_registry_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain", status="UP"})) / sum(max without (instance) (servicecomb_registry_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))', 'up'),
      ])
      + {
        options+: { graphMode: 'area' },
        fieldConfig+: { defaults+: { thresholds: g.steps([['red'], ['orange', 0.9], ['green', 0.99]]), min: 0, max: 1, decimals: 1 } },
      },

      g.stat('Instances not UP', 'Instances in any status other than UP (DOWN, STARTING, TESTING, OUTOFSERVICE).')
      + g.pos(20, 14, 4, 4)
      + g.targets([
        g.query('sum(max without (instance) (servicecomb_registry_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain", status!="UP"}))', 'not up'),
      ])
      + {
        options+: { graphMode: 'area' },
        fieldConfig+: { defaults+: { thresholds: g.steps([['green'], ['orange', 1]]), noValue: '0' } },
      },

      g.row('Breakdowns', 18),

      g.table('Per-domain summary', 'Projects, services and instances of each selected domain, summed over the selected sources.')
      + g.pos(0, 19, 12, 9)
      + g.targets([
        g.tableQuery('sum by (domain) (max without (instance) (servicecomb_registry_projects{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))'),
        g.tableQuery('sum by (domain) (max without (instance) (servicecomb_registry_services{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))'),
        g.tableQuery('sum by (domain) (max without (instance) (servicecomb_registry_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))'),
        g.tableQuery('sum by (domain) (max without (instance) (servicecomb_registry_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain", status="UP"}))'),
      ])
      + {
        options+: { sortBy: [{ displayName: 'Instances', desc: true }], footer: { show: true, reducer: ['sum'], fields: '', countRows: false } },
        transformations: [{ id: 'merge', options: {} }, { id: 'organize', options: { excludeByName: { Time: true }, indexByName: { domain: 0, 'Value #A': 1, 'Value #B': 2, 'Value #C': 3, 'Value #D': 4 }, renameByName: { domain: 'Domain', 'Value #A': 'Projects', 'Value #B': 'Services', 'Value #C': 'Instances', 'Value #D': 'Instances UP' } } }],
      },

      g.piechart('Instances by status', 'Instances of the selected sources and domains by status (UP, DOWN, STARTING, TESTING, OUTOFSERVICE).')
      + g.pos(12, 19, 6, 9)
      + g.targets([
        g.instant('sum by (status) (max without (instance) (servicecomb_registry_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))', '{{status}}'),
      ])
      + {
        fieldConfig+: { overrides: [{ matcher: { id: 'byName', options: 'UP' }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'green' } }] }, { matcher: { id: 'byName', options: 'DOWN' }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'red' } }] }, { matcher: { id: 'byName', options: 'STARTING' }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'blue' } }] }, { matcher: { id: 'byName', options: 'TESTING' }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'purple' } }] }, { matcher: { id: 'byName', options: 'OUTOFSERVICE' }, properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: 'orange' } }] }] },
      },

      g.piechart('Services by framework', 'Microservices of the selected sources and domains by development framework.')
      + g.pos(18, 19, 6, 9)
      + g.targets([
        g.instant('sum by (framework) (max without (instance) (servicecomb_registry_services{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))', '{{framework}}'),
      ]),

      g.bargauge('Services by domain', 'Microservices of each selected domain.')
      + g.pos(0, 28, 8, 9)
      + g.targets([
        g.instant('sort_desc(sum by (domain) (max without (instance) (servicecomb_registry_services{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"})))', '{{domain}}'),
      ]),

      g.bargauge('Instances by domain', 'Microservice instances of each selected domain.')
      + g.pos(8, 28, 8, 9)
      + g.targets([
        g.instant('sort_desc(sum by (domain) (max without (instance) (servicecomb_registry_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"})))', '{{domain}}'),
      ]),

      g.bargauge('Services by framework version', 'Microservices of the selected sources and domains by framework and framework version.')
      + g.pos(16, 28, 8, 9)
      + g.targets([
        g.instant('sort_desc(sum by (framework, framework_version) (max without (instance) (servicecomb_registry_services{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"})))', '{{framework}} {{framework_version}}'),
      ]),

      g.row('Trends', 37),

      g.timeseries('Instances by status over time', 'Instances of the selected sources and domains over time, stacked by status.')
      + g.pos(0, 38, 12, 8)
      + g.targets([
        g.query('sum by (status) (max without (instance) (servicecomb_registry_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))', '{{status}}'),
      ])
      + {
        fieldConfig+: { defaults+: { custom+: { fillOpacity: 30, stacking: { mode: 'normal', group: 'A' } } } },
      },

      g.timeseries('Services and instances', 'Total microservices and instances of the selected sources and domains over time.')
      + g.pos(12, 38, 12, 8)
      + g.targets([
        g.query('sum(max without (instance) (servicecomb_registry_services{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))', 'services'),
        g.query('sum(max without (instance) (servicecomb_registry_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))', 'instances'),
        g.query('sum(max without (instance) (servicecomb_registry_projects{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))', 'projects'),
      ]),

      g.timeseries('Top 10 domains by instances', 'The ten selected domains with the most instances, over time.')
      + g.pos(0, 46, 12, 8)
      + g.targets([
        g.query('topk(10, sum by (domain) (max without (instance) (servicecomb_registry_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"})))', '{{domain}}'),
      ]),

      g.timeseries('Top 10 domains by services', 'The ten selected domains with the most microservices, over time.')
      + g.pos(12, 46, 12, 8)
      + g.targets([
        g.query('topk(10, sum by (domain) (max without (instance) (servicecomb_registry_services{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"})))', '{{domain}}'),
      ]),

      g.bargauge('Top 10 domains by instances now', 'The ten selected domains with the most instances at the end of the time range.')
      + g.pos(0, 54, 12, 8)
      + g.targets([
        g.instant('sort_desc(topk(10, sum by (domain) (max without (instance) (servicecomb_registry_instances{job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain"}))))', '{{domain}}'),
      ]),

      g.bars('Alarm transitions', 'Alarm status changes (ACTIVATED, CLEARED) in the alarm center per interval, by alarm.')
      + g.pos(12, 54, 12, 8)
      + g.targets([
        g.query('sum by (id, source, status) (increase(servicecomb_alarm_transitions_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))', '{{id}} {{source}} {{status}}'),
      ])
      + {
        fieldConfig+: { defaults+: { custom+: { stacking: { mode: 'normal', group: 'A' } } } },
      },

    ]),
  },
}
