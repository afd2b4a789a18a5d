#!/usr/bin/env bash
# Runs the whole test suite, on SQLite and on a throwaway PostgreSQL cluster.
# Installs what the tests need when it is absent (PostgreSQL from Debian's packages).
set -euo pipefail
cd "$(dirname "$0")/.."

# Data published by other projects, read in place (never copied into the repo).
if [ -z "${CARTABLE_TESTDATA:-}" ] && [ -d ../shared/testdata ]; then
  export CARTABLE_TESTDATA="$(cd ../shared/testdata && pwd)"
fi

pg_stop() { :; }
if [ -z "${CARTABLE_TEST_DATABASE_URL:-}" ] && [ "${CARTABLE_NO_POSTGRES:-}" != "1" ]; then
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing PostgreSQL (Debian package postgresql)…"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      echo "PostgreSQL is not installed and cannot be installed here: the suite runs on SQLite only" >&2
    fi
  fi
  initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$initdb" ]; then
    pgbin=$(dirname "$initdb")
    pgdir=$(mktemp -d)
    # The first free port from 55432 (a cluster left behind by an interrupted run keeps its own).
    port=${CARTABLE_TEST_PG_PORT:-55432}
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    as_pg=()
    if [ "$(id -u)" = 0 ]; then chown postgres "$pgdir"; as_pg=(runuser -u postgres --); fi
    "${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres >/dev/null
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $pgdir -c fsync=off -c max_connections=300" start >/dev/null
    pg_stop() { "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$pgdir"; }
    trap pg_stop EXIT
    export CARTABLE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    export CARTABLE_PG_DUMP="$pgbin/pg_dump"
    echo "PostgreSQL ready on 127.0.0.1:$port"
  fi
fi

# A headless Chromium for the web UI's browser tests: Debian's chromium and chromedriver, installed when absent,
# chromedriver on a free 127.0.0.1 port (tests skip with a message when it cannot run).
driver_stop() { :; }
if [ -z "${CARTABLE_TEST_WEBDRIVER:-}" ] && [ "${CARTABLE_NO_BROWSER:-}" != "1" ]; then
  if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing Chromium (Debian packages chromium, chromium-driver)…"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
      echo "chromium and chromedriver are not installed and cannot be installed here: the browser tests are skipped" >&2
    fi
  fi
  if command -v chromedriver >/dev/null && command -v chromium >/dev/null; then
    wport=9515
    while (exec 3<>"/dev/tcp/127.0.0.1/$wport") 2>/dev/null; do wport=$((wport + 1)); done
    wlog=$(mktemp)
    chromedriver --port="$wport" --allowed-ips=127.0.0.1 >"$wlog" 2>&1 &
    wpid=$!
    driver_stop() { kill "$wpid" 2>/dev/null || true; rm -f "$wlog"; }
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$wport") 2>/dev/null && break; sleep 0.1; done
    export CARTABLE_TEST_WEBDRIVER="http://127.0.0.1:$wport"
    CARTABLE_TEST_CHROMIUM="$(command -v chromium)"
    export CARTABLE_TEST_CHROMIUM
    echo "chromedriver ready on 127.0.0.1:$wport"
  fi
fi
trap 'pg_stop; driver_stop' EXIT

cargo test --workspace "$@"
