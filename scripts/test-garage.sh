#!/usr/bin/env bash
# Runs the blob-store suite and the storage story against Garage 2.5.0 (a one-node cluster in a temporary folder)
# instead of s3s-fs. It needs the `garage` binary on PATH (`cargo install garage --version 2.5.0 --locked`, about
# 17 minutes on 2 cores); it does not install it.
# Run with Garage 2.5.0 (one node, lmdb) on 2026-12-02: every suite passed (the closing note of that day has the
# output). CI runs the same suites against s3s-fs (`scripts/test.sh`), which installs in minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

garage=$(command -v garage || true)
if [ -z "$garage" ]; then
  echo "garage is not installed: cargo install garage --version 2.5.0 --locked" >&2
  exit 1
fi

dir=$(mktemp -d)
stop() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap stop EXIT

free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}
s3port=$(free_port 3900)
rpcport=$(free_port $((s3port + 1)))

cat >"$dir/garage.toml" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpcport"
rpc_public_addr = "127.0.0.1:$rpcport"
rpc_secret = "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3port"
EOF
g() { "$garage" -c "$dir/garage.toml" "$@"; }

g server >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  if g status >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then echo "garage did not start:" >&2; cat "$dir/log" >&2; exit 1; fi
  sleep 0.1
done

node=$(g node id -q | cut -d@ -f1)
g layout assign -z dc1 -c 1G "$node" >/dev/null
g layout apply --version 1 >/dev/null
g bucket create cartable-test >/dev/null
g key create cartable-test >"$dir/key"
key_id=$(sed -n 's/^Key ID: *//p' "$dir/key")
secret=$(sed -n 's/^Secret key: *//p' "$dir/key")
if [ -z "$key_id" ] || [ -z "$secret" ]; then
  echo "could not read the key from \`garage key create\`:" >&2; cat "$dir/key" >&2; exit 1
fi
g bucket allow --read --write --owner cartable-test --key cartable-test >/dev/null

export CARTABLE_TEST_S3_ENDPOINT="http://127.0.0.1:$s3port"
export CARTABLE_TEST_S3_BUCKET="cartable-test"
export CARTABLE_TEST_S3_REGION="garage"
export CARTABLE_TEST_S3_ACCESS_KEY_ID="$key_id"
export CARTABLE_TEST_S3_SECRET_ACCESS_KEY="$secret"
echo "Garage ready on 127.0.0.1:$s3port"

# The blob-store suite (its S3 cases), the storage story, the memory test and the two servers on one vault; the
# PostgreSQL legs only if CARTABLE_TEST_DATABASE_URL is set. (`--workspace` keeps the build the test suite's own.)
cargo test --workspace --lib blobs::suite
cargo test --workspace --test story --test blob_memory --test integrity --test multi_server
