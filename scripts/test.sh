#!/usr/bin/env bash
# Builds lockstep and runs the whole suite. The end-to-end tests spawn the built binary,
# found through LOCKSTEP_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product lockstep
export LOCKSTEP_BIN="$(swift build --show-bin-path)/lockstep"
# A real PostgreSQL 15 on loopback for the application tests, stopped by pid when we exit.
export LOCKSTEP_TEST_PG_DIR="/var/tmp/lockstep-pg-$$"
trap 'scripts/postgres-server.sh stop "$LOCKSTEP_TEST_PG_DIR"' EXIT
scripts/postgres-server.sh start "$LOCKSTEP_TEST_PG_DIR" >/dev/null
swift test 2>&1 | tee .build/test-output.txt
