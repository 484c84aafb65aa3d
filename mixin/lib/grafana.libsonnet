// Panel and dashboard constructors for the mixin's dashboards, in plain
// Jsonnet (no grafonnet: jsonnet-bundler may not reach it). Each constructor
// gives every field Grafana's schema requires for its panel type (a test
// decodes the output strictly into grafana-foundation-sdk types), so a
// dashboard only states how a panel differs from these defaults.
{
  // Every panel and query reads the dashboard's ${datasource} variable.
  datasource:: { type: 'prometheus', uid: '${datasource}' },

  // Threshold steps from [color, value] pairs; the first value is null (base).
  steps(pairs):: {
    mode: 'absolute',
    steps: [{ color: p[0], value: if std.length(p) > 1 then p[1] else null } for p in pairs],
  },

  // A value mapping from {value: [text, color]}, indexed in the given order.
  valueMapping(values):: [{
    type: 'value',
    options: {
      [values[i][0]]: { text: values[i][1], color: values[i][2], index: i }
      for i in std.range(0, std.length(values) - 1)
    },
  }],

  pos(x, y, w, h):: { gridPos: { h: h, w: w, x: x, y: y } },

  // Queries. refIds are assigned by targets().
  query(expr, legend=''):: {
    datasource: $.datasource,
    expr: expr,
    legendFormat: legend,
    range: true,
    instant: false,
    editorMode: 'code',
  },
  instant(expr, legend=''):: $.query(expr, legend) { range: false, instant: true },
  tableQuery(expr):: $.instant(expr) { format: 'table' },
  targets(list):: {
    targets: [list[i] { refId: std.char(std.codepoint('A') + i) } for i in std.range(0, std.length(list) - 1)],
  },

  local legend = { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
  local reduce = { calcs: ['lastNotNull'], fields: '', values: false },

  local panel(type, title, description, unit) = {
    type: type,
    title: title,
    description: description,
    datasource: $.datasource,
    fieldConfig: {
      defaults: { unit: unit, mappings: [], thresholds: $.steps([['green']]) },
      overrides: [],
    },
  },

  row(title, y):: {
    type: 'row',
    title: title,
    collapsed: false,
    datasource: $.datasource,
    gridPos: { h: 1, w: 24, x: 0, y: y },
    panels: [],
  },

  stat(title, description, unit='short'):: panel('stat', title, description, unit) {
    fieldConfig+: { defaults+: { thresholds: $.steps([['blue']]) } },
    options: {
      reduceOptions: reduce,
      colorMode: 'background',
      graphMode: 'none',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: 'value',
      wideLayout: true,
      showPercentChange: false,
      percentChangeColorMode: 'standard',
    },
  },

  timeseries(title, description, unit='short'):: panel('timeseries', title, description, unit) {
    fieldConfig+: { defaults+: { custom: {
      drawStyle: 'line',
      lineWidth: 1,
      fillOpacity: 10,
      showPoints: 'never',
      spanNulls: false,
    } } },
    options: { legend: legend, tooltip: { mode: 'multi', sort: 'desc' } },
  },

  // Counts per interval (increase) read better as bars.
  bars(title, description, unit='short'):: $.timeseries(title, description, unit) {
    fieldConfig+: { defaults+: { custom+: { drawStyle: 'bars', fillOpacity: 60 } } },
  },

  // A 0/1 series over time; mapping names the two states.
  stateTimeline(title, description, mapping):: panel('state-timeline', title, description, 'none') {
    fieldConfig+: { defaults+: { mappings: mapping, thresholds: $.steps([['red'], ['green', 1]]) } },
    options: {
      showValue: 'never',
      mergeValues: true,
      alignValue: 'left',
      rowHeight: 0.9,
      legend: legend { showLegend: false },
      tooltip: { mode: 'single', sort: 'none' },
    },
  },

  table(title, description, unit='short'):: panel('table', title, description, unit) {
    fieldConfig+: { defaults+: { custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false, filterable: true } } },
    options: {
      showHeader: true,
      cellHeight: 'sm',
      frameIndex: 0,
      footer: { show: false, reducer: ['sum'], fields: '' },
    },
  },

  piechart(title, description, unit='short'):: panel('piechart', title, description, unit) {
    options: {
      reduceOptions: reduce,
      pieType: 'donut',
      orientation: 'auto',
      displayLabels: ['name', 'percent'],
      legend: legend { displayMode: 'table', placement: 'right', values: ['value', 'percent'] },
      tooltip: { mode: 'single', sort: 'none' },
    },
  },

  bargauge(title, description, unit='short'):: panel('bargauge', title, description, unit) {
    fieldConfig+: { defaults+: { thresholds: $.steps([['blue']]) } },
    options: {
      reduceOptions: reduce,
      displayMode: 'gradient',
      orientation: 'horizontal',
      showUnfilled: true,
      valueMode: 'color',
      namePlacement: 'auto',
      sizing: 'auto',
      minVizHeight: 16,
      minVizWidth: 8,
      maxVizHeight: 300,
      legend: legend { showLegend: false },
    },
  },

  // Overrides: a fixed color for the series matching a regexp or name.
  fixedColor(matcher, pattern, color):: {
    matcher: { id: matcher, options: pattern },
    properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: color } }],
  },

  // A query variable (label_values(...)); multi-value ones offer All = .*.
  variable(name, label, query, multi=true):: {
    name: name,
    label: label,
    type: 'query',
    datasource: $.datasource,
    definition: query,
    query: { query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery', qryType: 1 },
    refresh: 2,
    sort: 1,
    hide: 0,
    regex: '',
    options: [],
    multi: multi,
    includeAll: multi,
    [if multi then 'allValue']: '.*',
    [if multi then 'current']: { selected: true, text: ['All'], value: ['$__all'] },
  },

  // The exporter jobs the configured selector matches, one at a time: every
  // query selects job=~"$job".
  jobVariable(cfg):: $.variable('job', 'Job', 'label_values(servicecomb_exporter_build_info{%s}, job)' % cfg.servicecombSelector, multi=false),
  instanceVariable:: $.variable('instance', 'Instance', 'label_values(servicecomb_exporter_build_info{job=~"$job"}, instance)'),

  // A dashboard: panels get ids in order; cfg is the mixin's _config.
  dashboard(cfg, uidSuffix, title, description, variables, panels):: {
    uid: cfg.dashboardUIDPrefix + uidSuffix,
    title: title,
    description: description,
    tags: cfg.dashboardTags,
    refresh: cfg.dashboardRefresh,
    timezone: cfg.dashboardTimezone,
    time: { from: cfg.dashboardPeriod, to: 'now' },
    timepicker: { refresh_intervals: ['10s', '30s', '1m', '5m', '15m', '30m', '1h'] },
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    liveNow: false,
    schemaVersion: 39,
    version: 1,
    weekStart: '',
    annotations: { list: [{
      builtIn: 1,
      datasource: { type: 'grafana', uid: '-- Grafana --' },
      enable: true,
      hide: true,
      iconColor: 'rgba(0, 211, 255, 1)',
      name: 'Annotations & Alerts',
      type: 'dashboard',
    }] },
    // The other dashboards of the mixin, by its tags.
    links: [{
      title: 'ServiceComb',
      type: 'dashboards',
      tags: cfg.dashboardTags,
      asDropdown: true,
      includeVars: true,
      keepTime: true,
      icon: 'external link',
      targetBlank: false,
      tooltip: '',
      url: '',
    }],
    templating: { list: [{
      name: 'datasource',
      label: 'Data source',
      type: 'datasource',
      query: 'prometheus',
      current: { selected: true, text: 'Prometheus', value: 'prometheus' },
      hide: 0,
      includeAll: false,
      multi: false,
      options: [],
      refresh: 1,
      regex: '',
    }] + variables },
    panels: [panels[i] { id: i + 1 } for i in std.range(0, std.length(panels) - 1)],
  },
}
