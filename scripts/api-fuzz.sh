#!/usr/bin/env bash
# The API fuzzed from its own OpenAPI document at length (tests/api_fuzz.rs): Schemathesis for SECONDS per
# credential (a service's token, a guardian's session, none) on SQLite and on a throwaway PostgreSQL (default 300;
# the test suite runs 30). Reports land in target/tmp/schemathesis/.
# Usage: scripts/api-fuzz.sh [SECONDS]   (CARTABLE_SCHEMATHESIS_SEED=… replays a run)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARTABLE_SCHEMATHESIS_SECONDS="${1:-300}"
CARTABLE_NO_FUZZ=1 CARTABLE_NO_S3=1 CARTABLE_NO_BROWSER=1 exec scripts/test.sh --test api_fuzz -- --nocapture
