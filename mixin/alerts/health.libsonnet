// Health: the monitored servers, the Docker Engine and the exporter itself.
// persistenceExporterSelector picks the exporter's scrape job; `absent()` makes a dead or
// never-scraped exporter loud instead of silencing every other alert.
local u = import '../lib/utils.libsonnet';
{
  prometheusAlertFiles+:: {
    'health.yml'+: {
      comment:: |||
        Health: the monitored servers, the Docker Engine and the exporter itself.
        `absent()` makes a dead or never-scraped exporter loud, instead of silencing every
        other alert in this directory.
      |||,
      local c = $._config,
      local v = u.vars(c),
      groups+: [{
        name: 'persistence-health',
        rules: [
          {
            alert: 'RedisDown',
            expr: 'redis_up%(mb)s == 0' % v,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Redis {{ $labels.target }} is down',
              description: 'The exporter at {{ $labels.instance }} cannot reach Redis {{ $labels.target }} (redis_up = {{ $value }}). Its persistence checks are unknown until it is back.',
            },
          },
          {
            alert: 'PostgresDown',
            expr: 'pg_up%(mb)s == 0' % v,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'PostgreSQL {{ $labels.target }} is down',
              description: 'The exporter at {{ $labels.instance }} cannot reach PostgreSQL {{ $labels.target }} (pg_up = {{ $value }}). Its persistence checks are unknown until it is back.',
            },
          },
          {
            alert: 'DockerEngineUnreachable',
            expr: 'docker_up%(mb)s == 0' % v,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Docker Engine unreachable from {{ $labels.instance }}',
              description: 'The exporter at {{ $labels.instance }} cannot talk to the Docker Engine (docker_up = {{ $value }}): volume, mount and headroom checks are unknown.',
            },
          },
          {
            alert: 'PersistenceExporterDown',
            expr: 'up{%(sel)s} == 0' % v,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'persistence_exporter {{ $labels.instance }} cannot be scraped',
              description: 'Prometheus fails to scrape {{ $labels.instance }} (up = {{ $value }}). No persistence alert can fire for the targets it watches.',
            },
          },
          {
            // Per Prometheus: a Prometheus without the exporter's job alerts on its own.
            // Behind a global ruler (Thanos, Mimir) evaluate it per cluster instead; see
            // docs/scaling.md.
            alert: 'PersistenceExporterAbsent',
            expr: 'absent(up{%(sel)s})' % v,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'No persistence_exporter is scraped at all',
              description: 'Prometheus has no scrape target with %(sel)s (absent = {{ $value }}): the scrape job is missing, renamed or finds no targets. No persistence alert can fire.' % v,
            },
          },
          {
            alert: 'PersistenceExporterScrapeErrors',
            expr: |||
              sum by (%(cl)s, job, instance, collector, target, reason) (
                rate(persistence_exporter_scrape_errors_total%(mb)s[%(rateWindow)s])
              ) > 0
            ||| % v,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'persistence_exporter fails to collect {{ $labels.collector }} {{ $labels.target }} ({{ $labels.reason }})',
              description: '{{ $labels.instance }} has been failing to collect {{ $labels.collector }} target {{ $labels.target }} with reason {{ $labels.reason }}, at {{ $value | humanize }} errors per second: its metrics and checks are missing or stale.',
            },
          },
        ],
      }],
    },
  },
}
