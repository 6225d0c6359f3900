// persistence_exporter monitoring mixin: alerts, recording rules and Grafana dashboards.
//
//   jsonnet -J mixin -e '(import "mixin/mixin.libsonnet").prometheusAlerts'
//
// Fields: prometheusAlerts, prometheusRules, grafanaDashboards (keyed by file name) and
// _config (config.libsonnet). scripts/mixin renders alerts/, dashboards/ and
// deploy/kubernetes/prometheusrule.yaml from it with the default config.
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
