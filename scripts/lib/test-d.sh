# scripts/lib/test-d.sh — common start of every scripts/test.d/*.sh: go to the repo root,
# load the deps' env.sh when run alone (scripts/test has already sourced it), and check
# that promtool is known. Sourced, not executed.
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ -z "${PE_PROMTOOL:-}" && -f /var/cache/persistence-exporter/env.sh ]]; then
    # shellcheck disable=SC1091
    source /var/cache/persistence-exporter/env.sh
fi
PROMTOOL="${PE_PROMTOOL:?PE_PROMTOOL is not set: run scripts/setup}"
