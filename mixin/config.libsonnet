// The mixin's configuration: selectors, labels, thresholds, `for` durations and links.
// Override any field from a file of your own:
//
//   (import 'mixin/mixin.libsonnet') + {
//     _config+:: {
//       persistenceExporterSelector: 'job="pe"',
//       redisMemoryNearMaxmemoryRatio: 0.95,
//       alertFor+:: { RedisNoRecentSave: '30m' },
//     },
//   }
//
// alerts/README.md documents the defaults (its threshold table is this file in prose).
{
  _config+:: {
    // Selects the scrape job(s) of the exporter's own /metrics: `up` of
    // PersistenceExporterDown / PersistenceExporterAbsent. Non-empty PromQL matchers
    // (without braces). Set it to your job name, e.g. 'job="pe"'.
    persistenceExporterSelector: 'job="persistence_exporter"',

    // Selects the exporter's data series (redis_*, pg_*, docker_*, persistence_*) in
    // every other alert, recording rule and the dashboards' `job` variable. Empty by
    // default: /probe jobs have other names (deploy/prometheus-probe.example.yml), and
    // their series must alert too. Set it when another exporter exports the same names
    // (redis_up of oliver006/redis_exporter), e.g. 'job=~"persistence_.*"'.
    persistenceMetricsSelector: '',

    // The label that tells Prometheus servers / Kubernetes clusters apart (set it in
    // each Prometheus' `global.external_labels`). Alerts group and join by it and the
    // dashboards get a `$cluster` variable; where the label is absent, grouping by it and
    // matching it against "" or ".*" change nothing.
    clusterLabel: 'cluster',

    // Thresholds (alerts/README.md, "Thresholds and durations").
    redisNoRecentSaveSeconds: 7200,  // RedisNoRecentSave: last save older than this
    redisMemoryNearMaxmemoryRatio: 0.9,  // RedisMemoryNearMaxmemory: used / maxmemory
    postgresConnectionsNearMaxRatio: 0.8,  // PostgresConnectionsNearMax
    postgresSlowQueriesPerSecond: 0.1,  // PostgresSlowQueries, per database
    postgresWalGrowthBytes: 268435456,  // PostgresWalGrowing: delta over postgresWalGrowthWindow
    postgresWalGrowthWindow: '1h',
    postgresRestartWindow: '15m',  // PostgresRestarted: changes() window (no `for`)
    postgresArchiverFailedWindow: '10m',  // PostgresWalArchivingFailing: increase() window
    redisEvictionWindow: '10m',  // RedisEvictingPersistedKeys: increase() window
    dataLostOnRestartWindow: '1h',  // PersistenceDataLostOnRestart: increase() window (no `for`)
    rateWindow: '5m',  // rate() window of PersistenceExporterScrapeErrors and PostgresSlowQueries
    dockerVolumeFilesystemFullRatio: 0.9,  // DockerVolumeFilesystemAlmostFull
    dockerVolumeFillingUpWindow: '6h',  // DockerVolumeFilesystemFillingUp: predict_linear window
    dockerVolumeFillingUpHorizonSeconds: 86400,  // … and how far ahead it predicts

    // `for` of every alert, by name. An alert missing here keeps the `for` its entry
    // writes; PostgresRestarted has none on purpose.
    alertFor: {
      PersistenceCheckFailingCritical: '5m',
      PersistenceCheckFailingWarning: '15m',
      PersistenceCheckFailingInfo: '30m',
      PersistenceCheckUnknown: '30m',
      RedisDown: '2m',
      PostgresDown: '2m',
      DockerEngineUnreachable: '5m',
      PersistenceExporterDown: '5m',
      PersistenceExporterAbsent: '10m',
      PersistenceExporterScrapeErrors: '15m',
      RedisRdbBgsaveFailing: '2m',
      RedisAofWriteFailing: '2m',
      RedisAofRewriteFailing: '15m',
      RedisNoRecentSave: '10m',
      RedisEvictingPersistedKeys: '1m',
      RedisMemoryNearMaxmemory: '15m',
      PostgresWalArchivingFailing: '15m',
      PostgresConnectionsNearMax: '5m',
      PostgresSlowQueries: '15m',
      PostgresWalGrowing: '1h',
      DockerVolumeFilesystemAlmostFull: '10m',
      DockerVolumeFilesystemFillingUp: '1h',
    },
    // When set (e.g. '2s'), replaces every `for` above: for end-to-end tests.
    forOverride: null,

    // Links. The exporter serves its documentation as HTML: /docs/runbook (one section
    // per alert, anchored by its name) and /docs/checks (one section per check id). The
    // alerts link to the exporter their series came from, whose address is `instance` in
    // a direct scrape: `runbook_url` is runbookURL + '#' + the alert name, and the check
    // alerts' `check_url` is checksURL + '#' + the check id. In /probe jobs `instance` is
    // relabelled to the probed server (deploy/prometheus-probe.example.yml): there, set
    // docsURL to the exporter's address (e.g. 'http://persistence_exporter:9631/docs').
    // To link to another copy of the Markdown instead (a wiki, the repository), set
    // runbookURL / checksURL, e.g. 'https://git.example.org/pe/blob/main/docs/runbook.md',
    // and runbookAnchorLowercase: true for GitHub-style (lower-case) heading anchors.
    docsURL: 'http://{{ $labels.instance }}/docs',
    runbookURL: self.docsURL + '/runbook',
    runbookAnchorLowercase: false,
    checksURL: self.docsURL + '/checks',
    // Alerts whose series have no `instance` label (absent()): their runbook_url cannot
    // name an exporter, so it is this one, + '#' + the lower-case alert name.
    alertsWithoutInstance: ['PersistenceExporterAbsent'],
    runbookURLWithoutInstance: 'docs/runbook.md',
    // Dashboards: Grafana cannot put a series' labels into a dashboard link, so the
    // links use the dashboards' `instance` variable (the exporter picked at the top).
    dashboardDocsURL: 'http://${instance}/docs',
    // Grafana: where the dashboards live, for the `dashboard_url`-style links in docs
    // (the dashboards link to each other by tag) and their stable uids.
    grafanaURL: '',
    dashboardTags: ['persistence_exporter'],
    dashboardUIDs: {
      'persistence-overview.json': 'pe-overview',
      'postgres.json': 'pe-postgres',
      'redis.json': 'pe-redis',
      'docker-volumes.json': 'pe-docker',
    },
    dashboardURL(file):: '%s/d/%s' % [self.grafanaURL, self.dashboardUIDs[file]],
  },
}
