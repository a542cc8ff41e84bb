#!/usr/bin/env bash
# Builds lockstep and runs the whole suite. The end-to-end tests spawn the built binary,
# found through LOCKSTEP_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product lockstep
export LOCKSTEP_BIN="$(swift build --show-bin-path)/lockstep"
swift test 2>&1 | tee .build/test-output.txt
