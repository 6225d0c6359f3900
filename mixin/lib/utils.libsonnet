// Helpers shared by the alert files.
{
  // `runbook_url` of an alert: the runbook section named after it (on the exporter that
  // serves it, _config.runbookURL; a fixed URL for alerts without `instance`).
  runbook(c, alert)::
    if std.member(c.alertsWithoutInstance, alert)
    then c.runbookURLWithoutInstance + '#' + std.asciiLower(alert)
    else c.runbookURL + '#' + (if c.runbookAnchorLowercase then std.asciiLower(alert) else alert),

  // `check_url` of a check alert: the check's section of the checks reference.
  checkURL(c):: c.checksURL + '#{{ $labels.check }}',

  // A Go-template query for an annotation, matching the alert's own series by these
  // labels (and the cluster label, empty when the series have none):
  //   printf "metric{cluster=%q,instance=%q}" $labels.cluster $labels.instance
  printfQuery(c, metric, labels)::
    local ls = [c.clusterLabel] + labels;
    'printf "%s{%s}" %s' % [
      metric,
      std.join(',', [l + '=%q' for l in ls]),
      std.join(' ', ['$labels.' + l for l in ls]),
    ],

  // The formatting values of an expression: the config plus short names.
  // Numbers print as PromQL literals (0.9, not 0.90000000000000002).
  vars(c):: c {
    [k]: $.num(c[k])
    for k in std.objectFields(c)
    if std.isNumber(c[k])
  } + {
    sel: c.persistenceExporterSelector,
    msel: c.persistenceMetricsSelector,
    // The metrics selector followed by ', ' (nothing when it is empty), for
    // `metric{%(mselc)skey="value"}`.
    mselc: if c.persistenceMetricsSelector == '' then '' else c.persistenceMetricsSelector + ', ',
    // The metrics selector in braces (nothing when it is empty): `metric%(mb)s`.
    mb: if c.persistenceMetricsSelector == '' then '' else '{' + c.persistenceMetricsSelector + '}',
    cl: c.clusterLabel,
  },

  num(x):: if x == std.floor(x) then '%d' % x else '%g' % x,
}
