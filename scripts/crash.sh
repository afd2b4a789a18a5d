#!/usr/bin/env bash
# The crash harness at length: the server under load, killed with SIGKILL at random instants, restarted and checked
# (tests/crash.rs), for N cycles on SQLite and on a throwaway PostgreSQL (default 50; the test suite runs 3).
# Usage: scripts/crash.sh [CYCLES]   (CARTABLE_CRASH_SEED=… replays a run's instants)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARTABLE_CRASH_CYCLES="${1:-50}"
CARTABLE_NO_FUZZ=1 CARTABLE_NO_S3=1 CARTABLE_NO_BROWSER=1 exec scripts/test.sh --test crash -- --nocapture
