// PostgreSQL: WAL archiving, connection headroom, slow queries, restarts, WAL growth.
local u = import '../lib/utils.libsonnet';
{
  prometheusAlertFiles+:: {
    'postgres.yml'+: {
      comment:: |||
        PostgreSQL: WAL archiving, connection headroom, slow queries, restarts, WAL growth.
      |||,
      local c = $._config,
      local v = u.vars(c),
      groups+: [{
        name: 'postgres-persistence',
        rules: [
          // PostgreSQL retries a failing archive_command about once a minute, so a stuck
          // archiver keeps failed_count rising; one transient failure does not last `for`.
          {
            alert: 'PostgresWalArchivingFailing',
            expr: 'increase(pg_stat_archiver_failed_count%(mb)s[%(postgresArchiverFailedWindow)s]) > 0' % v,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'PostgreSQL {{ $labels.target }}: WAL archiving failing',
              description: 'archive_command of {{ $labels.target }} failed {{ $value | humanize }} times recently. Point-in-time recovery stops at the last archived segment and pg_wal keeps growing until the disk is full.',
            },
          },
          // Client sessions against what non-superusers may open.
          {
            alert: 'PostgresConnectionsNearMax',
            expr: |||
              sum by (%(cl)s, job, instance, target) (pg_stat_activity_count%(mb)s)
                / on(%(cl)s, job, instance, target)
              (pg_settings_max_connections%(mb)s - pg_settings_superuser_reserved_connections%(mb)s)
                > %(postgresConnectionsNearMaxRatio)s
            ||| % v,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'PostgreSQL {{ $labels.target }} uses {{ $value | humanizePercentage }} of its connections',
              description: '{{ $labels.target }} has sessions for {{ $value | humanizePercentage }} of max_connections minus superuser_reserved_connections. New connections will soon be refused ("too many clients already").',
            },
          },
          // rate() on the counter of statements the server logged as slow; never on the
          // pg_slow_queries gauge (in flight), whose rate means nothing.
          {
            alert: 'PostgresSlowQueries',
            expr: 'sum by (%(cl)s, job, instance, target, datname) (rate(pg_slow_queries_total%(mb)s[%(rateWindow)s])) > %(postgresSlowQueriesPerSecond)s' % v,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'PostgreSQL {{ $labels.target }}/{{ $labels.datname }}: {{ $value | humanize }} slow queries per second',
              description: '{{ $labels.target }} logs {{ $value | humanize }} statements per second slower than log_min_duration_statement in database {{ $labels.datname }}.',
            },
          },
          // No `for`: a restart is an event; the alert resolves when the window passes.
          {
            alert: 'PostgresRestarted',
            expr: 'changes(pg_postmaster_start_time_seconds%(mb)s[%(postgresRestartWindow)s]) > 0' % v,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'PostgreSQL {{ $labels.target }} restarted',
              description: 'The postmaster of {{ $labels.target }} started {{ with ' +
                           u.printfQuery(c, 'pg_postmaster_start_time_seconds', ['instance', 'target']) +
                           ' | query }}{{ . | first | value | humanizeTimestamp }}{{ end }} ({{ $value }} restart(s) seen recently). An unplanned restart is a crash: check the server log and crash recovery.',
            },
          },
          {
            alert: 'PostgresWalGrowing',
            expr: 'delta(pg_wal_size_bytes%(mb)s[%(postgresWalGrowthWindow)s]) > %(postgresWalGrowthBytes)s' % v,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'PostgreSQL {{ $labels.target }}: pg_wal keeps growing',
              description: 'pg_wal of {{ $labels.target }} grew by {{ $value | humanize1024 }}B in the last hour. Segments are retained: failing archiving, an inactive replication slot or a long checkpoint_timeout/max_wal_size.',
            },
          },
        ],
      }],
    },
  },
}
