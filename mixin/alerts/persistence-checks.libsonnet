// Persistence checks: alerts keyed on check results, never on raw config, so the profile
// decides what is a failure and how severe it is. A `cache`-profile Redis with
// persistence off has no failing check and therefore never alerts here.
//
// The join adds the profile's `expected` value to the alert labels (stable: it comes from
// the profile). The `observed` value is read into the description with a template query,
// not joined into the labels: it can change between scrapes (a save age, a fill level) and
// an alert whose labels change restarts its `for` and would never fire.
local u = import '../lib/utils.libsonnet';
{
  prometheusAlertFiles+:: {
    'persistence-checks.yml'+: {
      comment:: |||
        Persistence checks: alerts keyed on check results, never on raw config, so the
        profile decides what is a failure and how severe it is. `expected` is joined into
        the labels (stable), `observed` read into the description (it changes between
        scrapes, and changing labels would restart `for`).
      |||,
      local c = $._config,
      local v = u.vars(c),
      local observed =
        '{{ with ' + u.printfQuery(c, 'persistence_check_info', ['instance', 'target', 'check']) +
        ' | query }}{{ range . }}{{ .Labels.observed }}{{ end }}{{ else }}(unknown){{ end }}',
      local failing(alert, severity, summary, tail) = {
        alert: alert,
        expr: |||
          (persistence_check_ok{%(mselc)sseverity="%(severity)s"} == 0)
            * on(%(cl)s, job, instance, target, check) group_left(expected)
          persistence_check_info%(mb)s
        ||| % (v { severity: severity }),
        labels: { severity: severity },
        annotations: {
          summary: summary,
          description: 'Check {{ $labels.check }} on {{ $labels.target }} is failing: expected {{ $labels.expected }}, observed ' + observed + '.' + tail + ' What it protects and how to fix it: ' + u.checkURL(c),
          check_url: u.checkURL(c),
        },
      },
      groups+: [{
        name: 'persistence-checks',
        rules: [
          failing('PersistenceCheckFailingCritical', 'critical',
                  'Critical persistence check {{ $labels.check }} fails on {{ $labels.target }}',
                  ' Data written to this target is not safe.'),
          failing('PersistenceCheckFailingWarning', 'warning',
                  'Persistence check {{ $labels.check }} fails on {{ $labels.target }}',
                  ''),
          failing('PersistenceCheckFailingInfo', 'info',
                  'Informational persistence check {{ $labels.check }} fails on {{ $labels.target }}',
                  ' Not routed anywhere: visible in Prometheus and Alertmanager only.'),
          // Unknown = the check could not be evaluated (no privilege, CONFIG refused,
          // target down, container not found). Aggregated over `reason` so a changing
          // reason does not restart `for`; the reason is read into the description. While
          // the target itself is down, Alertmanager inhibits this alert
          // (deploy/alertmanager.yml).
          {
            alert: 'PersistenceCheckUnknown',
            expr: 'max by (%(cl)s, job, instance, target, check) (persistence_check_unknown%(mb)s) == 1' % v,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Persistence check {{ $labels.check }} cannot be evaluated on {{ $labels.target }}',
              description: 'Check {{ $labels.check }} on {{ $labels.target }} cannot be evaluated (reason: {{ with ' +
                           u.printfQuery(c, 'persistence_check_unknown', ['instance', 'target', 'check']) +
                           ' | query }}{{ range $i, $s := . }}{{ if $i }}, {{ end }}{{ $s.Labels.reason }}{{ end }}{{ end }}). Nobody knows whether this requirement holds. The check and what it needs: ' + u.checkURL(c),
              check_url: u.checkURL(c),
            },
          },
        ],
      }],
    },
  },
}
