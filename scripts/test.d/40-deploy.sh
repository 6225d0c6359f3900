#!/usr/bin/env bash
# scripts/test.d/40-deploy.sh — the deployment files:
#   docker-compose config -q            deploy/compose.yaml (Debian's docker-compose 1.29)
#   scripts/lib/check_deploy.py         what the services mount/build/read exists in the
#                                       repo, and the files agree with each other
#   promtool check config               deploy/prometheus.yml (every alerts/*.yml loaded)
#                                       and deploy/prometheus-probe.example.yml, and
#                                       docs/examples/prometheus-*.yml (docs/scaling.md)
#   check_deploy.py --kubernetes        deploy/kubernetes/*.yaml parse and refer only to
#                                       what exists; the ConfigMap passes --config.check
#   Docker build context                the context the Dockerfile compiles from (after
#                                       .dockerignore, as the Docker CLI sends it) holds
#                                       every file the crate needs: `cargo check` on it
# deploy/alertmanager.yml is checked by 20-alerts.sh. The image itself is built and run
# against real servers by tests/it/image.rs (cargo nextest), with deploy/persistence_exporter.yml,
# the compose secret and deploy/postgres-init/.
# Run by scripts/test with /var/cache/persistence-exporter/env.sh sourced; runnable alone.
set -euo pipefail

# shellcheck source=scripts/lib/test-d.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/test-d.sh"
command -v docker-compose >/dev/null || {
    echo "docker-compose not found (Debian package docker-compose; scripts/setup installs it)" >&2
    exit 1
}

TMP="$(mktemp -d)"
CTX_IMAGE="pe-test-deploy-context:$$"
cleanup() {
    [[ -n "${CTX_CONTAINER:-}" ]] && docker rm -f "$CTX_CONTAINER" >/dev/null 2>&1
    docker rmi -f "$CTX_IMAGE" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT

# Variables the file uses, at their defaults: unset any the caller's shell may have.
compose_env=(env -u POSTGRES_DB -u POSTGRES_USER -u POSTGRES_PASSWORD -u POSTGRES_PORT
    -u REDIS_PASSWORD -u REDIS_PORT -u DOCKER_GID -u DOCKER_DATA_ROOT -u EXPORTER_PORT
    -u GRAFANA_ADMIN_PASSWORD -u PE_BIND_ADDRESS -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME)

echo "docker-compose -f deploy/compose.yaml config -q"
"${compose_env[@]}" docker-compose -f deploy/compose.yaml config -q

echo "compose cross-checks (scripts/lib/check_deploy.py)"
"${compose_env[@]}" docker-compose -f deploy/compose.yaml config >"$TMP/compose.resolved.yaml"
python3 scripts/lib/check_deploy.py "$ROOT" <"$TMP/compose.resolved.yaml"
# ... and it does catch a mount of a file that is not in the repo.
sed 's#deploy/prometheus.yml:#deploy/prometheus-missing.yml:#' "$TMP/compose.resolved.yaml" >"$TMP/broken.yaml"
if python3 scripts/lib/check_deploy.py "$ROOT" <"$TMP/broken.yaml" >/dev/null 2>"$TMP/broken.err" ||
    ! grep -q 'prometheus-missing.yml.*does not exist' "$TMP/broken.err"; then
    echo "check_deploy.py did not report a missing mounted file:" >&2
    cat "$TMP/broken.err" >&2
    exit 1
fi

# ... and a published port without a host address (all interfaces).
sed 's#- 127.0.0.1:5432:5432/tcp#- 5432:5432/tcp#' "$TMP/compose.resolved.yaml" >"$TMP/open.yaml"
if python3 scripts/lib/check_deploy.py "$ROOT" <"$TMP/open.yaml" >/dev/null 2>"$TMP/open.err" ||
    ! grep -q 'postgres: published port.*no host address' "$TMP/open.err"; then
    echo "check_deploy.py did not report a port published on all interfaces:" >&2
    cat "$TMP/open.err" >&2
    exit 1
fi

# promtool resolves rule_files relative to the config file: ../alerts/*.yml is alerts/
# here and /etc/prometheus/alerts in the container (check_deploy.py checks that side).
rules=(alerts/*.yml)
for cfg in deploy/prometheus.yml deploy/prometheus-probe.example.yml; do
    echo "promtool check config $cfg"
    out="$("$PROMTOOL" check config "$cfg" 2>&1)" || {
        printf '%s\n' "$out" >&2
        exit 1
    }
    printf '%s\n' "$out" | sed 's/^/  /'
    found="$(sed -n 's/.*SUCCESS: \([0-9]*\) rule files found.*/\1/p' <<<"$out")"
    [[ "$found" == "${#rules[@]}" ]] || {
        echo "$cfg loads ${found:-no} rule files, alerts/ has ${#rules[@]}" >&2
        exit 1
    }
done

# The scaling examples of docs/scaling.md: every Prometheus config passes promtool, the
# Swarm stack file parses.
for cfg in docs/examples/prometheus-*.yml; do
    echo "promtool check config $cfg"
    out="$("$PROMTOOL" check config "$cfg" 2>&1)" || {
        printf '%s\n' "$out" >&2
        exit 1
    }
done
python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); assert d["services"]["persistence_exporter"]["deploy"]["mode"] == "global"' \
    docs/examples/swarm-stack.yml

# deploy/kubernetes/: manifests parse and refer only to what exists; the ConfigMap's
# exporter config passes --config.check.
EXPORTER_BIN="${PE_EXPORTER_BIN:-$ROOT/target/debug/persistence_exporter}"
[[ -x "$EXPORTER_BIN" ]] || cargo build --quiet --bin persistence_exporter
echo "kubernetes manifests (scripts/lib/check_deploy.py --kubernetes)"
python3 scripts/lib/check_deploy.py --kubernetes "$ROOT" "$EXPORTER_BIN"

# The Dockerfile's default path compiles from the build context; CI builds the image from
# a prebuilt binary instead (no Rust image without a registry). So check here that the
# context, exactly as the Docker CLI sends it (.dockerignore applied), compiles.
echo "docker build context: export it, then cargo check it"
out="$(docker build --label pe-test=1 -t "$CTX_IMAGE" -f - . 2>&1 <<EOF
FROM ${PE_DOCKER_IMAGE:-pe-busybox:latest}
COPY . /context
EOF
)" || {
    printf '%s\n' "$out" >&2
    exit 1
}
CTX_CONTAINER="$(docker create --label pe-test=1 "$CTX_IMAGE" /bin/true)"
docker cp "$CTX_CONTAINER:/context" - | tar -x -C "$TMP"
echo "  context: $(find "$TMP/context" -type f | wc -l) files, $(du -sh "$TMP/context" | cut -f1)"
for unwanted in target .git; do
    [[ ! -e "$TMP/context/$unwanted" ]] || {
        echo "the build context contains $unwanted/ (.dockerignore)" >&2
        exit 1
    }
done
# Shares target/ (dependencies already checked by clippy); `check` links nothing, so no
# binary in target/ is replaced by this copy's.
CARGO_TARGET_DIR="$ROOT/target" cargo check --locked --offline --quiet \
    --manifest-path "$TMP/context/Cargo.toml" --bin persistence_exporter
echo "  cargo check on the context: OK"

echo "deploy: OK"
