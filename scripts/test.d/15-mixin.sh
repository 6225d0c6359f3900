#!/usr/bin/env bash
# scripts/test.d/15-mixin.sh — the monitoring mixin (mixin/):
#   scripts/mixin --check   the checked-in alerts/*.yml, dashboards/*.json and
#                           deploy/kubernetes/prometheusrule.yaml are its fresh rendering
#   a second rendering with persistenceExporterSelector job="pe": promtool check rules,
#   and the unit tests of alerts/tests/ rewritten for job="pe" + cluster="eu1" series
#   (scripts/lib/mixin_variant_tests.py) pass on it.
# The default rendering's promtool checks and unit tests run in 20-alerts.sh.
set -euo pipefail

# shellcheck source=scripts/lib/test-d.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/test-d.sh"

scripts/mixin --check

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
scripts/mixin --out "$tmp" --config '{persistenceExporterSelector: "job=\"pe\"", persistenceMetricsSelector: "job=\"pe\"", clusterLabel: "cluster"}'
grep -q 'job="pe"' "$tmp/alerts/health.yml" || { echo "variant rendering lacks job=\"pe\"" >&2; exit 1; }
if grep -rq 'persistence_exporter"' "$tmp/alerts"/*.yml; then
    echo "variant rendering still selects job=\"persistence_exporter\":" >&2
    grep -rn 'persistence_exporter"' "$tmp/alerts"/*.yml >&2
    exit 1
fi
python3 scripts/lib/mixin_variant_tests.py alerts/tests "$tmp/alerts/tests" pe eu1

shopt -s nullglob
rules=("$tmp"/alerts/*.yml)
tests=("$tmp"/alerts/tests/*.yml)
echo "promtool check rules (job=\"pe\") ${#rules[@]} files"
"$PROMTOOL" check rules "${rules[@]}"
echo "promtool test rules (job=\"pe\", cluster=\"eu1\") ${#tests[@]} files"
"$PROMTOOL" test rules "${tests[@]}"
echo "mixin: OK"
