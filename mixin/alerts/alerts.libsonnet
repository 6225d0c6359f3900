// Every alert rule file. Each *.libsonnet adds `prometheusAlertFiles['<file>.yml']`
// (rendered to alerts/<file>.yml by scripts/mixin); this file finishes the rules:
//   - `for` from _config.alertFor (or _config.forOverride, for tests);
//   - `runbook_url` = _config.runbookURL + '#' + the alert name (lib/utils.libsonnet).
// Adding an alert = one entry in a `rules` list below (plus its row in
// alerts/README.md, its runbook section, its unit test and its `for` in config).
local u = import '../lib/utils.libsonnet';

(import 'persistence-checks.libsonnet') +
(import 'health.libsonnet') +
(import 'redis.libsonnet') +
(import 'postgres.libsonnet') +
(import 'docker.libsonnet') +
(import 'restarts.libsonnet') +
{
  local c = $._config,
  local forOf(rule) =
    local default =
      if std.objectHas(c.alertFor, rule.alert) then c.alertFor[rule.alert]
      else if std.objectHas(rule, 'for') then rule['for']
      else null;
    if default != null && c.forOverride != null then c.forOverride else default,
  local finish(rule) =
    if !std.objectHas(rule, 'alert') then rule
    else
      local f = forOf(rule);
      std.mergePatch(rule, { 'for': f }) + {
        annotations: { runbook_url: u.runbook(c, rule.alert) } + super.annotations,
      },

  // file name -> { groups: [...] }, finished.
  prometheusAlertsByFile:: {
    [file]: {
      groups: [
        g { rules: [finish(r) for r in g.rules] }
        for g in $.prometheusAlertFiles[file].groups
      ],
    }
    for file in std.objectFields($.prometheusAlertFiles)
  },

  prometheusAlerts+:: {
    groups+: std.flattenArrays([
      $.prometheusAlertsByFile[f].groups
      for f in std.objectFields($.prometheusAlertsByFile)
    ]),
  },
}
