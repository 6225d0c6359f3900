// Grafana dashboards. The panels live in the *.json files next to this one (exported from
// Grafana, edited by hand: add a panel there, with `job=~"$job", instance=~"$instance"`
// and, where the metric has one, `target=~"$target"` in every selector). This file makes
// them multi-cluster and configurable:
//   - a `cluster` variable (label _config.clusterLabel, "All" = ".*", so it matches
//     series without the label too), and every selector filtered by it;
//   - `by (` / `on(` gain the cluster label, so equal target names in two clusters stay
//     apart;
//   - the `job` variable lists only jobs matching _config.persistenceMetricsSelector;
//   - uids, tags and the runbook / check-reference links (_config.dashboardDocsURL: the
//     pages the exporter of the `instance` variable serves).
local sources = {
  'persistence-overview.json': import 'persistence-overview.json',
  'postgres.json': import 'postgres.json',
  'redis.json': import 'redis.json',
  'docker-volumes.json': import 'docker-volumes.json',
};

{
  local c = $._config,
  local cl = c.clusterLabel,
  local ds = { type: 'prometheus', uid: '${datasource}' },

  local fixExpr(e) =
    std.strReplace(
      std.strReplace(
        std.strReplace(e, 'job=~"$job"', '%s=~"$cluster", job=~"$job"' % cl),
        'by (', 'by (%s, ' % cl
      ),
      'on(', 'on(%s, ' % cl
    ),

  local fixPanel(p) =
    p
    + (if std.objectHas(p, 'targets') then {
         targets: [
           t + (if std.objectHas(t, 'expr') then { expr: fixExpr(t.expr) } else {})
           for t in p.targets
         ],
       } else {})
    + (if std.objectHas(p, 'panels') then { panels: [fixPanel(x) for x in p.panels] } else {}),

  local msel(extra) = std.join(', ', [m for m in [c.persistenceMetricsSelector, extra] if m != '']),
  local jobQuery =
    'label_values(persistence_exporter_build_info{%s}, job)' % msel('%s=~"$cluster"' % cl),

  local fixVariable(v) =
    if v.name == 'job' then v {
      query: v.query { query: jobQuery },
      definition: jobQuery,
    }
    else if v.type == 'query' then v {
      query: v.query { query: fixExpr(v.query.query) },
      definition: fixExpr(v.definition),
    }
    else v,

  local clusterQuery = if c.persistenceMetricsSelector == ''
  then 'label_values(persistence_exporter_build_info, %s)' % cl
  else 'label_values(persistence_exporter_build_info{%s}, %s)' % [c.persistenceMetricsSelector, cl],
  local clusterVariable = {
    name: 'cluster',
    label: 'Cluster',
    description: 'The `%s` label (Prometheus external_labels); "All" also matches series without it.' % cl,
    type: 'query',
    datasource: ds,
    query: { query: clusterQuery, refId: 'PrometheusVariableQueryEditor-cluster' },
    definition: clusterQuery,
    refresh: 2,
    regex: '',
    sort: 1,
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
    hide: 0,
  },

  local fixLink(l) =
    if std.objectHas(l, 'url') && l.url == 'docs/runbook.md' then l { url: c.dashboardDocsURL + '/runbook' }
    else if std.objectHas(l, 'url') && l.url == 'docs/checks.md' then l { url: c.dashboardDocsURL + '/checks' }
    else if l.type == 'dashboards' then l { tags: c.dashboardTags }
    else l,

  local fix(file, d) = d {
    uid: c.dashboardUIDs[file],
    tags: c.dashboardTags + [t for t in d.tags if t != 'persistence_exporter'],
    links: [fixLink(l) for l in d.links],
    templating: {
      list: std.flattenArrays([
        if v.name == 'datasource' then [v, clusterVariable] else [fixVariable(v)]
        for v in d.templating.list
      ]),
    },
    panels: [fixPanel(p) for p in d.panels],
  },

  grafanaDashboards+:: {
    [file]: fix(file, sources[file])
    for file in std.objectFields(sources)
  },
}
