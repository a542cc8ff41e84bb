#!/usr/bin/env bash
# The demo: a sample Posit Connect installation on SQLite, driven by the Connect simulator (a
# service that keeps writing bundles and the database rows that reference them), is backed up
# with the full stop-window procedure into a local repository, changed, backed up again,
# restored and verified — the restored copy is checked for consistency between the database
# and the files. Prints what happened.
set -euo pipefail
LOCKSTEP="${1:?usage: demo.sh PATH-TO-LOCKSTEP}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SIM="python3 $ROOT/Tests/Simulator/connect_simulator.py"
work="$(mktemp -d /var/tmp/lockstep-demo.XXXXXX)"
data="$work/var/lib/rstudio-connect"
config="$work/etc/rstudio-connect/rstudio-connect.gcfg"
cleanup() { $SIM stop --data "$data" --wait >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
export LOCKSTEP_REPOSITORY="$work/repo" LOCKSTEP_PASSWORD_FILE="$work/password"
head -c 24 /dev/urandom | base64 > "$LOCKSTEP_PASSWORD_FILE"
chmod 600 "$LOCKSTEP_PASSWORD_FILE"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
service=(--app-config "$config"
         --stop-command "$SIM stop --data '$data'"
         --start-command "$SIM start --data '$data' --interval-ms 10"
         --status-command "$SIM status --data '$data'")

step "a sample Connect installation: $data, configured by $config"
mkdir -p "$(dirname "$config")"
cat > "$config" <<GCFG
; a sample installation for the lockstep demo
[Server]
DataDir = $data        ; bundles, logs, the SQLite database and the key
[Database]
Provider = sqlite
GCFG
$SIM init --data "$data"
# Package files repeated across environments, as content environments are: deduplicated.
for env in 1 2 3; do
  mkdir -p "$data/R/4.3/env$env"
  for pkg in $(seq 1 60); do
    seq 1 300 | sed "s/^/pkg$pkg line /" > "$data/R/4.3/env$env/pkg$pkg.R"
  done
done
$SIM start --data "$data" --interval-ms 10
echo "the simulator runs: it adds bundles and database rows every 10 ms"

step "lockstep init"
"$LOCKSTEP" init
step "lockstep plan: what a backup will capture, and how the service is stopped and started"
"$LOCKSTEP" plan "${service[@]}"
step "lockstep backup: stop the service, capture files and database in one window, start it"
"$LOCKSTEP" backup "${service[@]}"
$SIM status --data "$data"
sleep 1
step "lockstep backup again, one second of new bundles later: only the changes are read"
"$LOCKSTEP" backup "${service[@]}"
step "lockstep snapshots (downtime and consistency per snapshot)"
"$LOCKSTEP" snapshots
step "lockstep ls latest $data/db"
"$LOCKSTEP" ls latest "$data/db"
step "lockstep restore latest --target $work/restored --verify"
"$LOCKSTEP" restore latest --target "$work/restored" --verify
step "is the restored copy consistent? (every database row has its bundle file and no file lacks a row)"
$SIM check --data "$work/restored$data"
step "for contrast: cp -a of the data directory while the service runs"
cp -a "$data" "$work/live-copy" 2>/dev/null || echo "(cp -a itself complained: files vanished under it)"
$SIM check --data "$work/live-copy" | tail -1 || true
step "a mishap: the key file is overwritten and a bundle directory deleted while the service runs"
snap=$("$LOCKSTEP" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"][:8])')
head -c 32 /dev/urandom > "$data/db/secret.key"
rm -rf "$data/apps/1"
$SIM check --data "$data" | tail -1 || true
step "lockstep restore $snap --in-place: preflight, staged copy, safety snapshot, switch, verify, start"
"$LOCKSTEP" restore "$snap" --in-place "${service[@]:2}"
$SIM status --data "$data"
$SIM stop --data "$data" --wait >/dev/null
$SIM check --data "$data"
$SIM start --data "$data" --interval-ms 10 >/dev/null
step "lockstep check --read-data"
"$LOCKSTEP" check --read-data
printf '\n\033[1mdemo complete\033[0m: a running Connect-shaped service backed up twice with the stop window, restored, verified and found consistent, then restored in place after a mishap and started again.\n'
