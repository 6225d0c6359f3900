#!/usr/bin/env bash
# scripts/test.d/20-alerts.sh — alert rules and the Alertmanager example:
#   promtool check rules   on every rule file in alerts/
#   promtool test rules    on every unit test in alerts/tests/
#   amtool check-config    on deploy/alertmanager.yml, plus its routing by severity
# Run by scripts/test with /var/cache/persistence-exporter/env.sh sourced; runnable alone.
# The Rust side (every rule metric is exported; Prometheus -> Alertmanager -> webhook
# end to end) lives in tests/it/alert_metric_names.rs and tests/it/alerts_e2e.rs.
set -euo pipefail

# shellcheck source=scripts/lib/test-d.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/test-d.sh"
# amtool ships in the same Debian package as the Alertmanager binary.
AMTOOL="$(dirname "${PE_ALERTMANAGER:?PE_ALERTMANAGER is not set: run scripts/setup}")/amtool"
[[ -x "$AMTOOL" ]] || AMTOOL="$(command -v amtool)" || {
    echo "amtool not found (Debian package prometheus-alertmanager)" >&2
    exit 1
}

shopt -s nullglob
rules=(alerts/*.yml)
tests=(alerts/tests/*.yml)
((${#rules[@]})) || { echo "no rule files in alerts/" >&2; exit 1; }
((${#tests[@]})) || { echo "no rule tests in alerts/tests/" >&2; exit 1; }

echo "promtool check rules ${rules[*]}"
"$PROMTOOL" check rules "${rules[@]}"

echo "promtool test rules ${tests[*]}"
"$PROMTOOL" test rules "${tests[@]}"

echo "amtool check-config deploy/alertmanager.yml"
"$AMTOOL" check-config deploy/alertmanager.yml

# critical pages, warning tickets, info is not routed (root receiver "null").
for pair in critical=page warning=ticket info=null; do
    severity="${pair%%=*}" receiver="${pair#*=}"
    "$AMTOOL" config routes test --config.file=deploy/alertmanager.yml \
        --verify.receivers="$receiver" alertname=PersistenceCheckFailingCritical \
        "severity=$severity" 2>/dev/null >/dev/null || {
        echo "deploy/alertmanager.yml routes severity=$severity to" \
            "$("$AMTOOL" config routes test --config.file=deploy/alertmanager.yml "severity=$severity" 2>/dev/null)," \
            "expected $receiver" >&2
        exit 1
    }
    echo "severity=$severity -> $receiver"
done
echo "alerts: OK"
