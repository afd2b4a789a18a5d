#!/usr/bin/env bash
# Runs the whole test suite, on SQLite and on a throwaway PostgreSQL cluster, with the blobs in the data folder
# and in a throwaway S3-compatible server (s3s-fs over a temporary folder).
# Installs what the tests need when it is absent (PostgreSQL from Debian's packages, s3s-fs with cargo).
# CARTABLE_NO_POSTGRES=1 or CARTABLE_NO_S3=1 leave either out; CARTABLE_TEST_DATABASE_URL or
# CARTABLE_TEST_S3_ENDPOINT (with _BUCKET, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _REGION) use servers already running.
# Installs Schemathesis for the API fuzzing test (CARTABLE_NO_API_FUZZ=1 leaves it out), oidc-provider (npm) for the
# OpenID tests (CARTABLE_NO_OIDC=1) and aiosmtpd (PyPI) for the notification tests (CARTABLE_NO_SMTP=1).
# Then the archive reader is fuzzed for 30 s (CARTABLE_FUZZ_SECONDS; CARTABLE_NO_FUZZ=1 leaves it out).
set -euo pipefail
cd "$(dirname "$0")/.."

# Data published by other projects, read in place (never copied into the repo).
if [ -z "${CARTABLE_TESTDATA:-}" ] && [ -d ../shared/testdata ]; then
  export CARTABLE_TESTDATA="$(cd ../shared/testdata && pwd)"
fi

pg_stop() { :; }
s3_stop() { :; }
driver_stop() { :; }
trap 'pg_stop; s3_stop; driver_stop' EXIT
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
    export CARTABLE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    export CARTABLE_PG_DUMP="$pgbin/pg_dump"
    echo "PostgreSQL ready on 127.0.0.1:$port"
  fi
fi

if [ -z "${CARTABLE_TEST_S3_ENDPOINT:-}" ] && [ "${CARTABLE_NO_S3:-}" != "1" ]; then
  s3s=$(command -v s3s-fs || true)
  if [ -z "$s3s" ] && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs" ]; then s3s="${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"; fi
  if [ -z "$s3s" ]; then
    echo "installing s3s-fs 0.14.1 (cargo install, about 3 minutes)…"
    # Built in a temporary folder of its own, not in this project's target folder.
    if env -u CARGO_TARGET_DIR cargo install s3s-fs --version 0.14.1 --features binary --locked --quiet; then
      s3s="${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"
    else
      echo "s3s-fs could not be installed: the S3 legs of the tests are skipped" >&2
    fi
  fi
  if [ -n "$s3s" ]; then
    s3dir=$(mktemp -d)
    # The first free port from 59000 (a server left behind by an interrupted run keeps its own).
    s3port=${CARTABLE_TEST_S3_PORT:-59000}
    while (exec 3<>"/dev/tcp/127.0.0.1/$s3port") 2>/dev/null; do s3port=$((s3port + 1)); done
    s3key="cartable-test-$RANDOM$RANDOM"
    s3secret=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
    # A bucket is a folder of the server's root.
    mkdir -p "$s3dir/root/cartable-test"
    "$s3s" --host 127.0.0.1 --port "$s3port" --access-key "$s3key" --secret-key "$s3secret" "$s3dir/root" >"$s3dir/log" 2>&1 &
    s3pid=$!
    s3_stop() { kill "$s3pid" 2>/dev/null || true; wait "$s3pid" 2>/dev/null || true; rm -rf "$s3dir"; }
    for _ in $(seq 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$s3port") 2>/dev/null; then break; fi
      if ! kill -0 "$s3pid" 2>/dev/null; then echo "s3s-fs did not start:" >&2; cat "$s3dir/log" >&2; exit 1; fi
      sleep 0.1
    done
    export CARTABLE_TEST_S3_ENDPOINT="http://127.0.0.1:$s3port"
    export CARTABLE_TEST_S3_BUCKET="cartable-test"
    export CARTABLE_TEST_S3_REGION="us-east-1"
    export CARTABLE_TEST_S3_ACCESS_KEY_ID="$s3key"
    export CARTABLE_TEST_S3_SECRET_ACCESS_KEY="$s3secret"
    echo "S3 (s3s-fs) ready on 127.0.0.1:$s3port"
  fi
fi

# axe-core for the browser tests' accessibility checks: the npm package, fetched once into target/ (not committed).
if [ -z "${CARTABLE_TEST_AXE:-}" ] && [ "${CARTABLE_NO_BROWSER:-}" != "1" ]; then
  axe_dir="$PWD/target/axe-core-4.14.1"
  if [ ! -f "$axe_dir/package/axe.min.js" ]; then
    if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing npm (Debian package npm) to fetch axe-core…"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null || true
    fi
    if command -v npm >/dev/null; then
      mkdir -p "$axe_dir"
      (cd "$axe_dir" && npm pack --silent axe-core@4.14.1 >/dev/null && tar xzf axe-core-4.14.1.tgz) || echo "axe-core could not be fetched: the accessibility checks are skipped" >&2
    else
      echo "npm is not installed and cannot be installed here: the accessibility checks are skipped" >&2
    fi
  fi
  if [ -f "$axe_dir/package/axe.min.js" ]; then
    export CARTABLE_TEST_AXE="$axe_dir/package/axe.min.js"
  fi
fi

# A headless Chromium for the web UI's browser tests: Debian's chromium and chromedriver, installed when absent,
# chromedriver on a free 127.0.0.1 port (tests skip with a message when it cannot run).
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

# Schemathesis for tests/api_fuzz.rs (the API fuzzed from its OpenAPI document): the PyPI package, installed once
# into a virtual environment under target/ (CARTABLE_NO_API_FUZZ=1 leaves it out; the test skips without it).
if [ -z "${CARTABLE_TEST_SCHEMATHESIS:-}" ] && [ "${CARTABLE_NO_API_FUZZ:-}" != "1" ]; then
  venv="$PWD/target/tools/schemathesis-4.32.5"
  if [ ! -x "$venv/bin/schemathesis" ]; then
    echo "installing Schemathesis 4.32.5 (PyPI) into target/tools…"
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet "schemathesis==4.32.5"; }; then
      echo "Schemathesis could not be installed: the API fuzzing test is skipped" >&2
      rm -rf "$venv"
    fi
  fi
  if [ -x "$venv/bin/schemathesis" ]; then
    export CARTABLE_TEST_SCHEMATHESIS="$venv/bin/schemathesis"
  fi
fi

# A real OpenID provider for tests/oidc.rs: the npm package oidc-provider, installed once into target/tools
# (CARTABLE_NO_OIDC=1 leaves it out; the tests skip without it).
if [ -z "${CARTABLE_TEST_OIDC_NODE_MODULES:-}" ] && [ "${CARTABLE_NO_OIDC:-}" != "1" ]; then
  oidc_dir="$PWD/target/tools/oidc-provider-9.13.3"
  if [ ! -f "$oidc_dir/node_modules/oidc-provider/lib/index.js" ]; then
    if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing Node.js and npm (Debian packages nodejs, npm) for the OpenID provider…"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null || true
    fi
    if command -v npm >/dev/null; then
      echo "installing oidc-provider 9.13.3 (npm) into target/tools…"
      mkdir -p "$oidc_dir"
      # --prefix: into that folder whatever package.json a parent folder may have; --save-exact: the version pinned.
      npm install --prefix "$oidc_dir" --silent --no-audit --no-fund --save-exact oidc-provider@9.13.3 >/dev/null \
        || echo "oidc-provider could not be installed: the OpenID tests are skipped" >&2
    else
      echo "npm is not installed and cannot be installed here: the OpenID tests are skipped" >&2
    fi
  fi
  # oidc-provider 9 uses URL.parse and crypto.hash: Node.js 20.18 or later (Debian 12's own nodejs is 18).
  if [ -f "$oidc_dir/node_modules/oidc-provider/lib/index.js" ] && command -v node >/dev/null \
    && ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 18) ? 0 : 1)'; then
    echo "Node.js $(node --version) is older than 20.18, which oidc-provider 9.13.3 needs: the OpenID tests are skipped" >&2
  elif [ -f "$oidc_dir/node_modules/oidc-provider/lib/index.js" ] && command -v node >/dev/null; then
    export CARTABLE_TEST_OIDC_NODE_MODULES="$oidc_dir/node_modules"
    CARTABLE_TEST_NODE="$(command -v node)"
    export CARTABLE_TEST_NODE
  fi
fi

# A real SMTP server for tests/notifications.rs: aiosmtpd (with trustme for its throwaway CA), from PyPI, installed
# once into a virtual environment under target/tools (CARTABLE_NO_SMTP=1 leaves it out; the test skips without it).
if [ -z "${CARTABLE_TEST_SMTP_PYTHON:-}" ] && [ "${CARTABLE_NO_SMTP:-}" != "1" ]; then
  smtp_venv="$PWD/target/tools/smtp-1.4.6"
  if ! "$smtp_venv/bin/python" -c "import aiosmtpd, trustme" 2>/dev/null; then
    echo "installing aiosmtpd 1.4.6 and trustme 1.2.1 (PyPI) into target/tools…"
    if ! { python3 -m venv "$smtp_venv" && "$smtp_venv/bin/pip" install --quiet "aiosmtpd==1.4.6" "trustme==1.2.1"; }; then
      echo "aiosmtpd could not be installed: the notification test's e-mail part is skipped" >&2
      rm -rf "$smtp_venv"
    fi
  fi
  if [ -x "$smtp_venv/bin/python" ]; then
    export CARTABLE_TEST_SMTP_PYTHON="$smtp_venv/bin/python"
  fi
fi

cargo test --workspace "$@"

# The archive reader under libFuzzer for a short while (scripts/fuzz.sh runs it as long as asked).
if [ "${CARTABLE_NO_FUZZ:-}" != "1" ]; then
  scripts/fuzz.sh "${CARTABLE_FUZZ_SECONDS:-30}"
fi
