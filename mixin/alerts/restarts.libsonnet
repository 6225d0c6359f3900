// Restarts: a restart the exporter observed after which the data did not survive
// (persistence_data_lost_on_restart_total, see README "Does the data survive a restart?").
// The counter moves once per such restart, so the alert is an event: no `for`, it fires at
// the first evaluation after the scrape that saw the loss and resolves when the window has
// passed (the restart checks stay FAIL for their own window, 24h by default).
local u = import '../lib/utils.libsonnet';
{
  prometheusAlertFiles+:: {
    'restarts.yml'+: {
      comment:: |||
        Restarts: an observed restart after which the data did not survive (a new
        PostgreSQL system identifier, Redis back with fewer keys than min_recovered_ratio,
        or the write canary gone). An event: no `for`, it reaches Alertmanager at the
        first evaluation after the scrape that saw the loss.
      |||,
      local c = $._config,
      local v = u.vars(c),
      groups+: [{
        name: 'persistence-restarts',
        rules: [
          {
            alert: 'PersistenceDataLostOnRestart',
            expr: 'increase(persistence_data_lost_on_restart_total%(mb)s[%(dataLostOnRestartWindow)s]) > 0' % v,
            labels: { severity: 'critical' },
            annotations: {
              summary: '{{ $labels.target }} lost its data at a restart',
              description: 'The exporter at {{ $labels.instance }} observed a restart of {{ $labels.target }} after which the data did not survive ({{ $value | humanize }} such restart(s) in the last %(dataLostOnRestartWindow)s). The observed text of its *_data_survived_restart check says why (new system identifier, keys recovered, canary vanished).' % v,
            },
          },
        ],
      }],
    },
  },
}
