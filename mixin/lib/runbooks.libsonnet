// Gives every alert a runbook_url annotation from _config.runbookURLPattern
// (the anchor is the alert name in lower case).
{
  prometheusAlerts+:: {
    groups: [
      group {
        rules: [
          rule { annotations+: { runbook_url: $._config.runbookURLPattern % std.asciiLower(rule.alert) } }
          for rule in group.rules
        ],
      }
      for group in super.groups
    ],
  },
}
