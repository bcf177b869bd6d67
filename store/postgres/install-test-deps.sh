#!/usr/bin/env bash
# Installs what the PostgreSQL store's tests need: Debian's postgresql
# package (initdb, postgres, pg_ctl under /usr/lib/postgresql/<version>/bin).
# The tests start their own private server on a unix socket in a temp
# directory (store/postgres/pgtest) as the postgres user the package creates;
# the package's own cluster service is not needed and not started.
#
# Rerunnable: a second run finds the binaries and does nothing.
#
# Usage: store/postgres/install-test-deps.sh   (from anywhere, as root)
# Env:   BUILDSTATS_SKIP_POSTGRES_DEPS=1 skips it (the tests then skip, or
#        fail in CI)
set -euo pipefail

if [ "${BUILDSTATS_SKIP_POSTGRES_DEPS:-}" = 1 ]; then
  echo "install-test-deps: BUILDSTATS_SKIP_POSTGRES_DEPS=1, skipping"
  exit 0
fi

have() {
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && return 0
  done
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1
}

if have && id postgres >/dev/null 2>&1; then
  echo "install-test-deps: PostgreSQL $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sed 's#/usr/lib/postgresql/\([^/]*\)/bin#\1#' | sort -n | tail -1) already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-test-deps: need root to apt-get install postgresql" >&2
  exit 1
fi
echo "install-test-deps: apt-get install postgresql"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d on CI machines keeps the packaged cluster from starting; the
# tests never use it.
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
have || { echo "install-test-deps: postgresql installed but no initdb/postgres found" >&2; exit 1; }
