#!/usr/bin/env bash
# Fuzzes the archive reader (export/fuzz: cargo-fuzz, libFuzzer, the nightly toolchain) for SECONDS (default 60),
# its corpus seeded from ../shared/testdata/zip (kept under target/, never committed). scripts/test.sh runs it for a
# short while; run it longer by hand: scripts/fuzz.sh 3600. A crash leaves its input in export/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "no nightly toolchain: the archive reader is not fuzzed" >&2
  exit 0
fi
if ! command -v cargo-fuzz >/dev/null && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo-fuzz" ]; then
  echo "installing cargo-fuzz (cargo install, under a minute)…"
  env -u CARGO_TARGET_DIR cargo install cargo-fuzz --locked --quiet
fi
corpus="$PWD/target/fuzz-corpus/archive_reader"
mkdir -p "$corpus"
testdata="${CARTABLE_TESTDATA:-../shared/testdata}"
if [ -d "$testdata/zip" ]; then
  # Seeds: every zip of the test data under 1 MiB, named by content so that reruns add nothing twice.
  find "$testdata/zip" -type f -size -1024k -print0 | while IFS= read -r -d '' f; do
    cp -n "$f" "$corpus/$(sha256sum "$f" | cut -c1-16)" 2>/dev/null || true
  done
else
  echo "no ../shared/testdata/zip: the corpus starts empty" >&2
fi
cd export/fuzz
echo "fuzzing the archive reader for ${seconds}s…"
env -u CARGO_TARGET_DIR cargo +nightly fuzz run archive_reader "$corpus" -- \
  -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=1048576 -timeout=10 -print_final_stats=1 2>&1 | tail -n 15
