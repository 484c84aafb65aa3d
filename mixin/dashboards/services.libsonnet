// The ServiceComb / Services dashboard: is my service up? Per-service
// instances and availability, churn, Service Center's replicas and quota
// usage (issue #11; metric names and labels in docs/service-metrics.md).
local g = import '../lib/grafana.libsonnet';

{
  local cfg = $._config,
  // Series of the exporter, narrowed by every variable; recorded series
  // have no instance label (they take the max over exporter replicas).
  local svc = 'job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain", project=~"$project", app=~"$app", service=~"$service"',
  local rec = 'job=~"$job", source=~"$source", domain=~"$domain", project=~"$project", app=~"$app", service=~"$service"',
  local dp = 'job=~"$job", instance=~"$instance", source=~"$source", domain=~"$domain", project=~"$project"',
  local recdp = 'job=~"$job", source=~"$source", domain=~"$domain", project=~"$project"',
  local variables = [
    g.jobVariable(cfg),
    g.instanceVariable,
    g.variable('source', 'Source', 'label_values(servicecomb_service_instances{job=~"$job"}, source)'),
    g.variable('domain', 'Domain', 'label_values(servicecomb_service_instances{job=~"$job", source=~"$source"}, domain)'),
    g.variable('project', 'Project', 'label_values(servicecomb_service_instances{job=~"$job", source=~"$source", domain=~"$domain"}, project)'),
    g.variable('app', 'App', 'label_values(servicecomb_service_instances{job=~"$job", source=~"$source", domain=~"$domain", project=~"$project"}, app)'),
    g.variable('service', 'Service', 'label_values(servicecomb_service_instances{job=~"$job", source=~"$source", domain=~"$domain", project=~"$project", app=~"$app"}, service)'),
  ],
  local serviceColumns = { environment: 'Environment', app: 'App', service: 'Service', version: 'Version', domain: 'Domain', project: 'Project', source: 'Source' },
  local serviceOrder = { domain: 0, project: 1, app: 2, service: 3, version: 4, environment: 5, source: 6 },
  local percent = { unit: 'percentunit', min: 0, max: 1, decimals: 2 },
  local statusColors = [
    g.fixedColor('byName', 'UP', 'green'),
    g.fixedColor('byName', 'DOWN', 'red'),
    g.fixedColor('byName', 'STARTING', 'blue'),
    g.fixedColor('byName', 'TESTING', 'purple'),
    g.fixedColor('byName', 'OUTOFSERVICE', 'orange'),
  ],

  grafanaDashboards+:: {
    'servicecomb-services.json': g.dashboard(cfg, 'services', 'ServiceComb / Services', 'Is my service up? Instances by status and availability of each ServiceComb microservice, instance churn, Service Center replicas and quota usage, from servicecomb_exporter.', variables, [
      g.row('Now', 0),

      g.stat('Services', 'Selected microservices (one per environment, app, name and version).')
      + g.pos(0, 1, 4, 4)
      + g.targets([
        g.instant('count(max without (instance) (servicecomb_service_info{%s}))' % svc, 'services'),
      ]),

      g.stat('Services with no UP instance', 'Selected microservices that have no instance in status UP now.')
      + g.pos(4, 1, 5, 4)
      + g.targets([
        g.instant('sum(max without (instance, status) (servicecomb_service_instances{%s, status="UP"}) == bool 0)' % svc, 'no UP instance'),
      ])
      + {
        fieldConfig+: { defaults+: { thresholds: g.steps([['green'], ['red', 1]]) } },
      },

      g.stat('UP instances', 'Instances of the selected microservices in status UP.')
      + g.pos(9, 1, 5, 4)
      + g.targets([
        g.query('sum(max without (instance) (servicecomb_service_instances{%s, status="UP"}))' % svc, 'UP'),
      ])
      + {
        options+: { graphMode: 'area' },
      },

      g.stat('Service Center replicas UP', 'Instances of Service Center itself (its SERVICECENTER service) in status UP, per selected source.')
      + g.pos(14, 1, 5, 4)
      + g.targets([
        g.instant('sum by (source) (max without (instance) (servicecomb_service_center_instances{job=~"$job", instance=~"$instance", source=~"$source", status="UP"}))', '{{source}}'),
      ]),

      g.stat('Services left out by the cap', 'Services without per-service series because the exporter reached its max_services cap (servicecomb_service_series_dropped).')
      + g.pos(19, 1, 5, 4)
      + g.targets([
        g.instant('max(servicecomb_service_series_dropped{job=~"$job", instance=~"$instance"})', 'dropped'),
      ])
      + {
        fieldConfig+: { defaults+: { thresholds: g.steps([['green'], ['orange', 1]]) } },
      },

      g.table('Which services have no UP instance', 'Selected microservices with no instance in status UP now, with the share of the last hour and day in which they had one.')
      + g.pos(0, 5, 24, 8)
      + g.targets([
        g.tableQuery('max without (instance, status) (servicecomb_service_instances{%s, status="UP"}) == 0' % svc),
        g.tableQuery('servicecomb:service_availability:ratio_1h{%s} and on (job, source, domain, project, environment, app, service, version) (max without (instance, status) (servicecomb_service_instances{%s, status="UP"}) == 0)' % [rec, svc]),
        g.tableQuery('servicecomb:service_availability:ratio_1d{%s} and on (job, source, domain, project, environment, app, service, version) (max without (instance, status) (servicecomb_service_instances{%s, status="UP"}) == 0)' % [rec, svc]),
      ])
      + {
        fieldConfig+: {
          defaults+: { noValue: 'Every selected service has an UP instance' },
          overrides: [
            { matcher: { id: 'byName', options: 'Available 1h' }, properties: [{ id: 'unit', value: 'percentunit' }, { id: 'decimals', value: 2 }] },
            { matcher: { id: 'byName', options: 'Available 1d' }, properties: [{ id: 'unit', value: 'percentunit' }, { id: 'decimals', value: 2 }] },
          ],
        },
        transformations: [{ id: 'merge', options: {} }, { id: 'organize', options: {
          excludeByName: { Time: true, job: true, __name__: true, 'Value #A': true },
          indexByName: serviceOrder { 'Value #B': 7, 'Value #C': 8 },
          renameByName: serviceColumns { 'Value #B': 'Available 1h', 'Value #C': 'Available 1d' },
        } }],
      },

      g.row('Instances', 13),

      g.timeseries('Instances by status', 'Instances of the selected microservices over time, stacked by status.')
      + g.pos(0, 14, 12, 9)
      + g.targets([
        g.query('sum by (status) (max without (instance) (servicecomb_service_instances{%s}))' % svc, '{{status}}'),
      ])
      + {
        fieldConfig+: { defaults+: { custom+: { fillOpacity: 30, stacking: { mode: 'normal', group: 'A' } } }, overrides: statusColors },
      },

      g.timeseries('UP instances by service', 'UP instances of the 20 selected microservices with the most instances, over time.')
      + g.pos(12, 14, 12, 9)
      + g.targets([
        g.query('topk(20, sum by (domain, project, app, service) (max without (instance) (servicecomb_service_instances{%s, status="UP"})))' % svc, '{{service}} ({{app}}, {{domain}}/{{project}})'),
      ]),

      g.stateTimeline('Has an UP instance', 'Whether each selected microservice had at least one UP instance, over time (servicecomb:service_up:bool).', g.valueMapping([['1', 'UP', 'green'], ['0', 'No UP instance', 'red']]))
      + g.pos(0, 23, 24, 9)
      + g.targets([
        g.query('servicecomb:service_up:bool{%s}' % rec, '{{service}} {{version}} ({{app}}, {{domain}}/{{project}})'),
      ]),

      g.row('Availability', 32),

      g.table('Availability by service', 'Share of the last hour, day and 30 days in which each selected microservice had at least one UP instance (of the time it was listed).')
      + g.pos(0, 33, 16, 9)
      + g.targets([
        g.tableQuery('servicecomb:service_availability:ratio_1h{%s}' % rec),
        g.tableQuery('servicecomb:service_availability:ratio_1d{%s}' % rec),
        g.tableQuery('servicecomb:service_availability:ratio_30d{%s}' % rec),
      ])
      + {
        fieldConfig+: { defaults+: percent { thresholds: g.steps([['red'], ['orange', 0.99], ['green', 0.999]]) } },
        options+: { sortBy: [{ displayName: 'Available 30d', desc: false }] },
        transformations: [{ id: 'merge', options: {} }, { id: 'organize', options: {
          excludeByName: { Time: true, job: true, __name__: true },
          indexByName: serviceOrder { 'Value #A': 7, 'Value #B': 8, 'Value #C': 9 },
          renameByName: serviceColumns { 'Value #A': 'Available 1h', 'Value #B': 'Available 1d', 'Value #C': 'Available 30d' },
        } }],
      },

      g.bargauge('Least available over 30d', 'The ten selected microservices with the lowest 30-day availability.', 'percentunit')
      + g.pos(16, 33, 8, 9)
      + g.targets([
        g.instant('sort(bottomk(10, servicecomb:service_availability:ratio_30d{%s}))' % rec, '{{service}} {{version}} ({{domain}}/{{project}})'),
      ])
      + {
        fieldConfig+: { defaults+: percent { thresholds: g.steps([['red'], ['orange', 0.99], ['green', 0.999]]) } },
      },

      g.row('Churn', 42),

      g.timeseries('Registrations and deregistrations', 'Instances registering and disappearing (deregistration or lease expiry) per second, in the selected domains and projects.', 'ops')
      + g.pos(0, 43, 12, 8)
      + g.targets([
        g.query('sum(max without (instance) (rate(servicecomb_registry_instance_registrations_total{%s}[$__rate_interval])))' % dp, 'registrations'),
        g.query('sum(max without (instance) (rate(servicecomb_registry_instance_deregistrations_total{%s}[$__rate_interval])))' % dp, 'deregistrations'),
      ]),

      g.timeseries('Deregistrations against their baseline', 'Deregistrations per second of each selected domain and project over the churn window, and their average over the baseline (dashed): ServiceCombInstanceChurnHigh compares them.', 'ops')
      + g.pos(12, 43, 12, 8)
      + g.targets([
        g.query('servicecomb:registry_instance_deregistrations:rate{%s}' % recdp, '{{domain}}/{{project}}'),
        g.query('servicecomb:registry_instance_deregistrations:rate_baseline{%s}' % recdp, '{{domain}}/{{project}} baseline'),
      ])
      + {
        fieldConfig+: { overrides: [{ matcher: { id: 'byRegexp', options: '.* baseline' }, properties: [{ id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }] }] },
      },

      g.row('Service Center', 51),

      g.timeseries('Service Center replicas', 'Instances of Service Center itself (its SERVICECENTER service) by source and status, over time.')
      + g.pos(0, 52, 8, 8)
      + g.targets([
        g.query('sum by (source, status) (max without (instance) (servicecomb_service_center_instances{job=~"$job", instance=~"$instance", source=~"$source"}))', '{{source}} {{status}}'),
      ]),

      g.timeseries('Service quota usage', "Services of each selected domain and project as a share of Service Center's service quota.", 'percentunit')
      + g.pos(8, 52, 8, 8)
      + g.targets([
        g.query('max without (instance) (servicecomb_registry_service_usage_ratio{%s})' % dp, '{{domain}}/{{project}}'),
      ])
      + {
        fieldConfig+: { defaults+: { min: 0, thresholds: g.steps([['green'], ['orange', 0.8], ['red', cfg.quotaUsageRatio]]), custom+: { thresholdsStyle: { mode: 'dashed' } } } },
      },

      g.timeseries('Instance quota usage', "Instances of each selected domain and project as a share of Service Center's instance quota.", 'percentunit')
      + g.pos(16, 52, 8, 8)
      + g.targets([
        g.query('max without (instance) (servicecomb_registry_instance_usage_ratio{%s})' % dp, '{{domain}}/{{project}}'),
      ])
      + {
        fieldConfig+: { defaults+: { min: 0, thresholds: g.steps([['green'], ['orange', 0.8], ['red', cfg.quotaUsageRatio]]), custom+: { thresholdsStyle: { mode: 'dashed' } } } },
      },
    ]),
  },
}
