// Recording rules: small per-cluster aggregates, cheap to federate or to send to a
// central Thanos/Mimir (docs/scaling.md). Rendered to alerts/recording-rules.yml.
local u = import '../lib/utils.libsonnet';
{
  local c = $._config,
  local v = u.vars(c),
  prometheusRules+:: {
    groups+: [{
      name: 'persistence-exporter.rules',
      rules: [
        // Failing checks per cluster and severity: the overview's headline numbers.
        {
          record: '%(cl)s_severity:persistence_checks_failing:sum' % v,
          expr: 'sum by (%(cl)s, severity) (persistence_checks_failing%(mb)s)' % v,
        },
        // Checks that cannot be evaluated, per cluster.
        {
          record: '%(cl)s:persistence_check_unknown:count' % v,
          expr: 'count by (%(cl)s) (persistence_check_unknown%(mb)s == 1)' % v,
        },
        // Exporters scraped and up, per cluster.
        {
          record: '%(cl)s:persistence_exporter_up:sum' % v,
          expr: 'sum by (%(cl)s) (up{%(sel)s})' % v,
        },
      ],
    }],
  },
}
