// Recording rules over the registry counts. They take the max over exporter
// replicas (`max without (instance)`), so two exporters watching the same
// registry give one alert.
{
  prometheusRules+:: {
    groups+: [{
      name: 'servicecomb.registry.recording',
      rules: [
        {
          // Source reachable according to at least one exporter replica.
          record: 'servicecomb:registry_source_up:max_by_source',
          expr: |||
            max without (instance) (servicecomb_registry_source_up{%(servicecombSelector)s})
          ||| % $._config,
        },
        {
          // Services per domain (labels: job, source, domain).
          record: 'servicecomb:registry_services:sum_by_source_domain',
          expr: |||
            max without (instance) (
              sum without (project, framework, framework_version) (servicecomb_registry_services{%(servicecombSelector)s})
            )
          ||| % $._config,
        },
        {
          // Instances per domain and status (labels: job, source, domain, status).
          record: 'servicecomb:registry_instances:sum_by_source_domain_status',
          expr: |||
            max without (instance) (
              sum without (project) (servicecomb_registry_instances{%(servicecombSelector)s})
            )
          ||| % $._config,
        },
        {
          // Instances per domain, all statuses.
          record: 'servicecomb:registry_instances:sum_by_source_domain',
          expr: |||
            sum without (status) (servicecomb:registry_instances:sum_by_source_domain_status)
          |||,
        },
        {
          // Share of a domain's instances in each status; {status="UP"} is the UP ratio.
          record: 'servicecomb:registry_instances:ratio_by_source_domain_status',
          expr: |||
            servicecomb:registry_instances:sum_by_source_domain_status
              / ignoring (status) group_left
            servicecomb:registry_instances:sum_by_source_domain
          |||,
        },
        {
          // Instances per domain at the start of the drop-comparison window.
          record: 'servicecomb:registry_instances:sum_by_source_domain_offset',
          expr: |||
            servicecomb:registry_instances:sum_by_source_domain
              offset %(instancesDropWindow)s
          ||| % $._config,
        },
      ],
    }],
  },
}
