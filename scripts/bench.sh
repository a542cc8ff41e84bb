#!/usr/bin/env bash
# Benchmark lockstep against restic, borg, tar and cp on a Posit-Connect-shaped fixture.
#
#   scripts/bench.sh [--scale tiny|small|medium] [--runs N] [--seed N]
#                    [--tools "lockstep restic borg tar-zstd tar-gz cp"]
#                    [--no-build] [--no-install] [--out FILE] [--keep]
#
# Environment:
#   BENCH_DIR      work directory (default /var/tmp/lockstep-bench): fixture, repositories,
#                  restores, logs.  The fixture is kept for the next run with the same
#                  scale and seed; repositories and restore directories are deleted.
#   LOCKSTEP_BIN   use this lockstep binary instead of building one.
#   BENCH_TIMEOUT  seconds one timed command may take (default 3600).
#   BENCH_BUILD_TIMEOUT  seconds the release build may take, including waiting for
#                  another SwiftPM process to release .build (default 2400).
#
# Phases per tool and run: initial backup into a fresh repository, no-change backup,
# full restore into an empty directory.  Every timed command starts from the same cache
# state: sync, drop the page cache, re-read the source tree.  Figures are medians over
# the runs; a tool that is missing or fails gets "failed" cells, never a number.
# Writes docs/benchmarks.md (or --out) and prints the result tables.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCALE=small
RUNS=3
SEED=1
TOOLS="lockstep restic borg tar-zstd tar-gz cp"
BUILD=1
INSTALL=1
KEEP=0
OUT="$ROOT/docs/benchmarks.md"
BENCH_DIR=${BENCH_DIR:-/var/tmp/lockstep-bench}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-3600}
BENCH_BUILD_TIMEOUT=${BENCH_BUILD_TIMEOUT:-2400}

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --scale) SCALE=$2; shift 2 ;;
        --scale=*) SCALE=${1#*=}; shift ;;
        --runs) RUNS=$2; shift 2 ;;
        --runs=*) RUNS=${1#*=}; shift ;;
        --seed) SEED=$2; shift 2 ;;
        --seed=*) SEED=${1#*=}; shift ;;
        --tools) TOOLS=$2; shift 2 ;;
        --tools=*) TOOLS=${1#*=}; shift ;;
        --out) OUT=$2; shift 2 ;;
        --out=*) OUT=${1#*=}; shift ;;
        --no-build) BUILD=0; shift ;;
        --no-install) INSTALL=0; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "bench.sh: unknown argument: $1" >&2; usage 2 ;;
    esac
done
case "$SCALE" in tiny|small|medium) ;; *) echo "bench.sh: --scale must be tiny, small or medium" >&2; exit 2 ;; esac
case "$RUNS" in ''|*[!0-9]*|0) echo "bench.sh: --runs must be a positive integer" >&2; exit 2 ;; esac
for t in $TOOLS; do
    case "$t" in lockstep|restic|borg|tar-zstd|tar-gz|cp) ;; *) echo "bench.sh: unknown tool $t" >&2; exit 2 ;; esac
done

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
has() { command -v "$1" >/dev/null 2>&1; }

BENCH_DIR=$(mkdir -p "$BENCH_DIR" && cd "$BENCH_DIR" && pwd)
FIXTURE="$BENCH_DIR/fixture-$SCALE-s$SEED"
WORK="$BENCH_DIR/work"             # repositories, restores, caches: deleted at the end
LOGDIR="$BENCH_DIR/logs"           # tool output of the last invocation, kept for inspection
RESULTS="$BENCH_DIR/results.tsv"
COMMANDS="$BENCH_DIR/commands.tsv"
INFO="$BENCH_DIR/info.tsv"
PWFILE="$WORK/password"
START_TS=$(date +%s)

cleanup() {
    local rc=$?
    if [ "$KEEP" = 0 ] && [ -d "$WORK" ]; then
        sync
        rm -rf "$WORK"
    fi
    return $rc
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# dependencies (Debian packages), installed quietly and only when missing

APT_UPDATED=0
apt_install() {  # apt_install PACKAGE...: best effort, returns non-zero on failure
    [ "$INSTALL" = 1 ] || return 1
    [ "$(id -u)" = 0 ] || { say "not root: cannot apt-get install $*"; return 1; }
    if [ "$APT_UPDATED" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$LOGDIR/apt.log" 2>&1 || true
        APT_UPDATED=1
    fi
    say "installing $* (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >>"$LOGDIR/apt.log" 2>&1
}

mkdir -p "$LOGDIR"
rm -f "$LOGDIR"/*.log "$LOGDIR"/*.time 2>/dev/null || true
[ -x /usr/bin/time ] || apt_install time || { echo "bench.sh: /usr/bin/time (package time) is required" >&2; exit 1; }
has python3 || { echo "bench.sh: python3 is required" >&2; exit 1; }
has zstd || apt_install zstd || true
has gzip || apt_install gzip || true
case " $TOOLS " in *" restic "*) has restic || apt_install restic || say "restic unavailable" ;; esac
case " $TOOLS " in *" borg "*) has borg || apt_install borgbackup || say "borg unavailable" ;; esac
has timeout || { echo "bench.sh: coreutils timeout is required" >&2; exit 1; }

# ---------------------------------------------------------------------------
# lockstep

LOCKSTEP=""
LOCKSTEP_BROKEN=""
case " $TOOLS " in
*" lockstep "*)
    if [ -n "${LOCKSTEP_BIN:-}" ]; then
        LOCKSTEP=$(readlink -f "$LOCKSTEP_BIN" || echo "$LOCKSTEP_BIN")
    elif [ "$BUILD" = 1 ]; then
        if has swift; then
            say "building lockstep (swift build -c release --product lockstep)"
            brc=0
            (cd "$ROOT" && timeout "$BENCH_BUILD_TIMEOUT" swift build -c release --product lockstep) >"$LOGDIR/build.log" 2>&1 || brc=$?
            if [ "$brc" = 0 ]; then
                LOCKSTEP="$(cd "$ROOT" && swift build -c release --show-bin-path 2>/dev/null)/lockstep"
                say "lockstep built: $LOCKSTEP"
            else
                if [ "$brc" = 124 ]; then LOCKSTEP_BROKEN="release build timed out after ${BENCH_BUILD_TIMEOUT}s"
                else LOCKSTEP_BROKEN="release build failed (exit $brc)"; fi
                say "lockstep: $LOCKSTEP_BROKEN (log: $LOGDIR/build.log); its cells will read failed"
                tail -n 5 "$LOGDIR/build.log" | sed 's/^/    /' >&2 || true
            fi
        else
            LOCKSTEP_BROKEN="swift not installed"
        fi
    else
        LOCKSTEP="$( (cd "$ROOT" && swift build -c release --show-bin-path) 2>/dev/null || true)/lockstep"
    fi
    if [ -z "$LOCKSTEP_BROKEN" ] && [ ! -x "$LOCKSTEP" ]; then
        LOCKSTEP_BROKEN="binary not found"
    fi
    ;;
esac

# ---------------------------------------------------------------------------
# fixture

say "fixture: $SCALE, seed $SEED -> $FIXTURE"
python3 "$ROOT/bench/make_fixture.py" --out "$FIXTURE" --scale "$SCALE" --seed "$SEED" --reuse >&2
MANIFEST="$FIXTURE.manifest.json"
FIXTURE_PARENT=$(dirname "$FIXTURE")
FIXTURE_NAME=$(basename "$FIXTURE")
say "fingerprinting the fixture (for restore checks)"
REF_SUM=$(python3 "$ROOT/bench/treesum.py" "$FIXTURE")
ref_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$REF_SUM" "$1"; }
REF_CONTENT=$(ref_field content_sha256)
REF_META=$(ref_field meta_sha256)

need=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["bytes"]) * 3)' "$MANIFEST")
avail=$(df -B1 --output=avail "$BENCH_DIR" | tail -1 | tr -d ' ')
if [ "$avail" -lt "$need" ]; then
    say "warning: $((avail / 1048576)) MiB free in $BENCH_DIR, about $((need / 1048576)) MiB wanted"
fi

# ---------------------------------------------------------------------------
# measuring

DROP_OK=1
if ! (sync && echo 1 >/proc/sys/vm/drop_caches) 2>/dev/null; then
    DROP_OK=0
    say "warning: cannot drop the page cache (not root?): runs start with whatever is cached"
fi

prepare_cache() {
    sync
    if [ "$DROP_OK" = 1 ]; then echo 1 >/proc/sys/vm/drop_caches; fi
    tar cf - -C "$FIXTURE_PARENT" "$FIXTURE_NAME" | cat >/dev/null
}

printf 'run\ttool\tphase\tstatus\twall_s\tuser_s\tsys_s\tmaxrss_kb\trepo_bytes\tnote\tverify\n' >"$RESULTS"
printf 'tool\tphase\tcommand\n' >"$COMMANDS"

record() {  # record RUN TOOL PHASE STATUS WALL USER SYS RSS REPO NOTE VERIFY
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
}

quote_cmd() {  # shell-quote only what needs it, for readable command lines
    local out="" a re='^[][A-Za-z0-9_./:=,@%+-]+$'
    for a in "$@"; do
        if [[ $a =~ $re ]]; then out+="$a "; else out+="$(printf '%q' "$a") "; fi
    done
    printf '%s' "${out% }"
}

note_cmd() {  # note_cmd TOOL PHASE CMD...: list an untimed or not-run command in the report
    local c; c=$(quote_cmd "${@:3}")
    printf '%s\t%s\t%s\n' "$1" "$2" "${c//$PWFILE/PW}" >>"$COMMANDS"
}

# measure RUN TOOL PHASE CWD CMD...: runs CMD timed; sets M_STATUS M_NOTE M_WALL M_USER M_SYS M_RSS
measure() {
    local run=$1 tool=$2 phase=$3 cwd=$4
    shift 4
    local tf="$LOGDIR/$tool.$phase.$run.time" lf="$LOGDIR/$tool.$phase.$run.log"
    if [ "$run" = 1 ]; then
        local envs=""
        case "$tool" in
            restic) envs="RESTIC_PASSWORD_FILE=PW RESTIC_CACHE_DIR=$WORK/restic-cache " ;;
            borg) envs="BORG_PASSPHRASE=... BORG_BASE_DIR=$WORK/borg-base " ;;
        esac
        local c; c=$(quote_cmd "$@")
        c=${c//$PWFILE/PW}
        if [ "$cwd" != "$WORK" ]; then c="cd $cwd && $envs$c"; else c="$envs$c"; fi
        printf '%s\t%s\t%s\n' "$tool" "$phase" "$c" >>"$COMMANDS"
    fi
    prepare_cache
    local t0 t1 rc=0
    t0=$(date +%s%N)
    (cd "$cwd" && exec /usr/bin/time -v -o "$tf" timeout --kill-after=30 "$BENCH_TIMEOUT" "$@") >"$lf" 2>&1 || rc=$?
    sync
    t1=$(date +%s%N)
    M_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    M_USER=$(awk -F': ' '/User time \(seconds\)/ { print $2 }' "$tf" 2>/dev/null || true)
    M_SYS=$(awk -F': ' '/System time \(seconds\)/ { print $2 }' "$tf" 2>/dev/null || true)
    M_RSS=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tf" 2>/dev/null || true)
    if [ "$rc" = 0 ] && [ -n "$M_USER" ] && [ -n "$M_RSS" ]; then
        M_STATUS=ok; M_NOTE=""
    else
        M_STATUS=failed
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then M_NOTE="timeout after ${BENCH_TIMEOUT}s"
        else M_NOTE="exit $rc"; fi
        M_WALL=""; M_USER=""; M_SYS=""; M_RSS=""
        say "$tool $phase (run $run) failed: $M_NOTE; last lines of $lf:"
        tail -n 5 "$lf" | sed 's/^/    /' >&2 || true
    fi
    return 0
}

# timed RUN TOOL PHASE CWD CMD...: measure and record; returns 1 on failure
timed() {
    measure "$@"
    record "$1" "$2" "$3" "$M_STATUS" "$M_WALL" "$M_USER" "$M_SYS" "$M_RSS" "" "$M_NOTE" ""
    [ "$M_STATUS" = ok ] && say "$2 $3 (run $1): ${M_WALL}s wall, $(awk -v u="$M_USER" -v s="$M_SYS" 'BEGIN{print u+s}')s CPU, $((M_RSS / 1024)) MiB RSS"
    [ "$M_STATUS" = ok ]
}

# timed_restore RUN TOOL CWD TARGET CMD...: like timed, then checks TARGET against the fixture
timed_restore() {
    local run=$1 tool=$2 cwd=$3 target=$4
    shift 4
    measure "$run" "$tool" restore "$cwd" "$@"
    local verify=""
    if [ "$M_STATUS" = ok ]; then
        local sum c m
        sum=$(python3 "$ROOT/bench/treesum.py" "$target" --name "$FIXTURE_NAME" --marker apps --marker R --marker db 2>&1 || true)
        c=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("content_sha256",""))' "$sum" 2>/dev/null || true)
        m=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("meta_sha256",""))' "$sum" 2>/dev/null || true)
        if [ "$c" = "$REF_CONTENT" ]; then
            verify="identical"
            if [ "$m" = "$REF_META" ]; then verify+=",identical"; else verify+=",differs"; fi
            say "$tool restore (run $run): ${M_WALL}s wall, contents identical, metadata ${verify#*,}"
        else
            M_STATUS=failed; M_NOTE="restored tree differs from the source"
            verify="differs,—"
            say "$tool restore (run $run): restored tree differs from the source: $sum"
        fi
    fi
    if [ "$M_STATUS" != ok ]; then M_WALL=""; M_USER=""; M_SYS=""; M_RSS=""; fi
    record "$run" "$tool" restore "$M_STATUS" "$M_WALL" "$M_USER" "$M_SYS" "$M_RSS" "" "$M_NOTE" "$verify"
}

repo_size() {  # repo_size RUN TOOL PATH
    local b
    b=$(du -sb "$3" 2>/dev/null | cut -f1) || true
    if [ -z "$b" ]; then
        record "$1" "$2" repo failed "" "" "" "" "" "repository $3 not found" ""
        say "$2: repository $3 not found after the initial backup"
        return
    fi
    record "$1" "$2" repo ok "" "" "" "" "$b" "" ""
    say "$2 repository after the initial backup: $((b / 1048576)) MiB"
}

phases_of() {
    case "$1" in
        tar-gz) echo "initial repo" ;;
        cp) echo "restore" ;;
        *) echo "initial repo nochange restore" ;;
    esac
}

fill_missing() {  # fill_missing RUN TOOL REASON: a failed row for every phase that has none
    local p
    for p in $(phases_of "$2"); do
        if ! awk -F'\t' -v r="$1" -v t="$2" -v p="$p" '$1==r && $2==t && $3==p {f=1} END {exit !f}' "$RESULTS"; then
            record "$1" "$2" "$p" failed "" "" "" "" "" "$3" ""
        fi
    done
}

fail_all() {  # fail_all RUN TOOL REASON PHASES...
    local run=$1 tool=$2 reason=$3
    shift 3
    local p
    for p in "$@"; do record "$run" "$tool" "$p" failed "" "" "" "" "" "$reason" ""; done
}

fresh() {  # fresh DIR...: remove and recreate empty
    local d
    for d in "$@"; do rm -rf "$d"; mkdir -p "$d"; done
    sync
}

# ---------------------------------------------------------------------------
# the tools

bench_lockstep() {
    local run=$1 repo="$WORK/lockstep-repo" target="$WORK/restore-lockstep"
    if [ -n "$LOCKSTEP_BROKEN" ]; then
        fail_all "$run" lockstep "$LOCKSTEP_BROKEN" initial repo nochange restore
        if [ "$run" = 1 ]; then
            local bin="${LOCKSTEP:-\$(swift build -c release --show-bin-path)/lockstep}" why="not run: $LOCKSTEP_BROKEN"
            note_cmd lockstep "setup, $why" "$bin" init --repo "$repo" --password-file "$PWFILE"
            note_cmd lockstep "initial, $why" "$bin" backup --repo "$repo" --password-file "$PWFILE" "$FIXTURE"
            note_cmd lockstep "nochange, $why" "$bin" backup --repo "$repo" --password-file "$PWFILE" "$FIXTURE"
            note_cmd lockstep "restore, $why" "$bin" restore latest --repo "$repo" --password-file "$PWFILE" --target "$target"
        fi
        return
    fi
    rm -rf "$repo"; fresh "$target"
    [ "$run" = 1 ] && note_cmd lockstep "setup, untimed" "$LOCKSTEP" init --repo "$repo" --password-file "$PWFILE"
    if ! "$LOCKSTEP" init --repo "$repo" --password-file "$PWFILE" >"$LOGDIR/lockstep.init.$run.log" 2>&1; then
        say "lockstep init failed; last lines of $LOGDIR/lockstep.init.$run.log:"
        tail -n 5 "$LOGDIR/lockstep.init.$run.log" | sed 's/^/    /' >&2 || true
        fail_all "$run" lockstep "init failed" initial repo nochange restore
        return
    fi
    if timed "$run" lockstep initial "$WORK" "$LOCKSTEP" backup --repo "$repo" --password-file "$PWFILE" "$FIXTURE"; then
        repo_size "$run" lockstep "$repo"
        timed "$run" lockstep nochange "$WORK" "$LOCKSTEP" backup --repo "$repo" --password-file "$PWFILE" "$FIXTURE" || true
        timed_restore "$run" lockstep "$WORK" "$target" "$LOCKSTEP" restore latest --repo "$repo" --password-file "$PWFILE" --target "$target"
    else
        fail_all "$run" lockstep "initial backup failed" repo nochange restore
    fi
    rm -rf "$repo" "$target"
}

bench_restic() {
    local run=$1 repo="$WORK/restic-repo" target="$WORK/restore-restic"
    if ! has restic; then fail_all "$run" restic "restic not installed" initial repo nochange restore; return; fi
    rm -rf "$repo" "$WORK/restic-cache"; fresh "$target"
    export RESTIC_PASSWORD_FILE="$PWFILE" RESTIC_CACHE_DIR="$WORK/restic-cache"
    [ "$run" = 1 ] && note_cmd restic "setup, untimed" restic init --repo "$repo" --repository-version 2
    if ! restic init --repo "$repo" --repository-version 2 >"$LOGDIR/restic.init.$run.log" 2>&1; then
        fail_all "$run" restic "init failed" initial repo nochange restore; return
    fi
    if timed "$run" restic initial "$WORK" restic --repo "$repo" backup --compression auto "$FIXTURE"; then
        repo_size "$run" restic "$repo"
        timed "$run" restic nochange "$WORK" restic --repo "$repo" backup --compression auto "$FIXTURE" || true
        timed_restore "$run" restic "$WORK" "$target" restic --repo "$repo" restore latest --target "$target"
    else
        fail_all "$run" restic "initial backup failed" repo nochange restore
    fi
    unset RESTIC_PASSWORD_FILE RESTIC_CACHE_DIR
    rm -rf "$repo" "$target" "$WORK/restic-cache"
}

bench_borg() {
    local run=$1 repo="$WORK/borg-repo" target="$WORK/restore-borg"
    if ! has borg; then fail_all "$run" borg "borg not installed" initial repo nochange restore; return; fi
    rm -rf "$repo" "$WORK/borg-base"; fresh "$target"
    BORG_PASSPHRASE=$(cat "$PWFILE")
    export BORG_PASSPHRASE BORG_BASE_DIR="$WORK/borg-base" BORG_RELOCATED_REPO_ACCESS_IS_OK=yes \
        BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=no BORG_DISPLAY_PASSPHRASE=no
    [ "$run" = 1 ] && note_cmd borg "setup, untimed" borg init --encryption=repokey "$repo"
    if ! borg init --encryption=repokey "$repo" >"$LOGDIR/borg.init.$run.log" 2>&1; then
        fail_all "$run" borg "init failed" initial repo nochange restore
    elif timed "$run" borg initial "$WORK" borg create --compression zstd,3 "$repo::initial" "$FIXTURE"; then
        repo_size "$run" borg "$repo"
        local latest=initial
        if timed "$run" borg nochange "$WORK" borg create --compression zstd,3 "$repo::nochange" "$FIXTURE"; then latest=nochange; fi
        timed_restore "$run" borg "$target" "$target" borg extract "$repo::$latest"
    else
        fail_all "$run" borg "initial backup failed" repo nochange restore
    fi
    unset BORG_PASSPHRASE BORG_BASE_DIR BORG_RELOCATED_REPO_ACCESS_IS_OK BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK BORG_DISPLAY_PASSPHRASE
    rm -rf "$repo" "$target" "$WORK/borg-base"
}

bench_tar_zstd() {
    local run=$1 dir="$WORK/tar-zstd" target="$WORK/restore-tar-zstd"
    if ! has zstd; then fail_all "$run" tar-zstd "zstd not installed" initial repo nochange restore; return; fi
    fresh "$dir" "$target"
    if timed "$run" tar-zstd initial "$WORK" tar --zstd --listed-incremental="$dir/level0.snar" -cpf "$dir/level0.tar.zst" -C "$FIXTURE_PARENT" "$FIXTURE_NAME"; then
        repo_size "$run" tar-zstd "$dir/level0.tar.zst"
        cp "$dir/level0.snar" "$dir/level1.snar"
        timed "$run" tar-zstd nochange "$WORK" tar --zstd --listed-incremental="$dir/level1.snar" -cpf "$dir/level1.tar.zst" -C "$FIXTURE_PARENT" "$FIXTURE_NAME" || true
        timed_restore "$run" tar-zstd "$WORK" "$target" tar --zstd -xpf "$dir/level0.tar.zst" -C "$target"
    else
        fail_all "$run" tar-zstd "initial backup failed" repo nochange restore
    fi
    rm -rf "$dir" "$target"
}

bench_tar_gz() {
    local run=$1 dir="$WORK/tar-gz"
    if ! has gzip; then fail_all "$run" tar-gz "gzip not installed" initial repo; return; fi
    fresh "$dir"
    if timed "$run" tar-gz initial "$WORK" tar -czpf "$dir/full.tar.gz" -C "$FIXTURE_PARENT" "$FIXTURE_NAME"; then
        repo_size "$run" tar-gz "$dir/full.tar.gz"
    else
        fail_all "$run" tar-gz "initial backup failed" repo
    fi
    rm -rf "$dir"
}

bench_cp() {
    local run=$1 target="$WORK/restore-cp"
    fresh "$target"
    timed_restore "$run" cp "$WORK" "$target" cp -a "$FIXTURE" "$target/"
    rm -rf "$target"
}

# ---------------------------------------------------------------------------
# machine and versions

info() { printf '%s\t%s\n' "$1" "$2" >>"$INFO"; }
printf 'key\tvalue\n' >"$INFO"
info date "$(date -u '+%Y-%m-%d %H:%M UTC')"
info runs "$RUNS"
info scale "$SCALE"
info seed "$SEED"
info fixture "$FIXTURE"
cpu=$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ {print $2; exit}' || true)
[ -n "$cpu" ] || cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
info cpu "${cpu:-unknown}"
info nproc "$(nproc)"
info load "$(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) when the benchmark started"
info mem "$(free -h | awk '/^Mem:/ {print $2 " total, " $7 " available at start"}')"
info kernel "$(uname -srm)"
info disk "$(df -hT "$BENCH_DIR" | awk 'NR==2 {print $1 " (" $2 "), " $3 " size, " $5 " free, mounted on " $7}')"
if [ "$DROP_OK" = 1 ]; then
    info cache_policy "dropped before every timed command (echo 1 > /proc/sys/vm/drop_caches), then source re-read"
else
    info cache_policy "could NOT be dropped (not root?): source re-read before every timed command, repositories may be cached"
fi
ver() {  # ver NAME CMD...
    local v
    v=$("${@:2}" 2>&1 | head -n 1 | sed 's/^[* ]*//; s/[* ]*$//' || true)
    info "version:$1" "${v:-unavailable}"
}
for t in $TOOLS; do
    case "$t" in
        lockstep)
            if [ -n "$LOCKSTEP_BROKEN" ]; then
                info "version:lockstep" "unavailable ($LOCKSTEP_BROKEN)"
            else
                v=$("$LOCKSTEP" --version 2>/dev/null | head -n 1 || true)
                g=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo "no commit yet")
                info "version:lockstep" "${v:-unknown} (work tree: $g, swift build -c release)"
            fi ;;
        restic) ver restic restic version ;;
        borg) ver borg borg --version ;;
        tar-zstd|tar-gz) ;;
        cp) ver cp cp --version ;;
    esac
done
case " $TOOLS " in *" tar-"*) ver tar tar --version ;; esac
case " $TOOLS " in *" tar-zstd "*) ver zstd zstd --version ;; esac
case " $TOOLS " in *" tar-gz "*) ver gzip gzip --version ;; esac
has swift && case " $TOOLS " in *" lockstep "*) ver swift swift --version ;; esac

# ---------------------------------------------------------------------------
# runs

rm -rf "$WORK"
mkdir -p "$WORK"
( umask 077 && printf 'lockstep-bench-%s\n' "$SEED" >"$PWFILE" )

read -r -a TOOL_LIST <<<"$TOOLS"
ntools=${#TOOL_LIST[@]}
for ((run = 1; run <= RUNS; run++)); do
    say "run $run of $RUNS"
    for ((i = 0; i < ntools; i++)); do
        t=${TOOL_LIST[$(((i + run - 1) % ntools))]}   # rotate the order from run to run
        # Each tool runs in its own subshell with errexit: a harness error there ends that
        # tool's run only; its phases without a row are then recorded as failed.
        set +e
        (
            set -e
            case "$t" in
                lockstep) bench_lockstep "$run" ;;
                restic) bench_restic "$run" ;;
                borg) bench_borg "$run" ;;
                tar-zstd) bench_tar_zstd "$run" ;;
                tar-gz) bench_tar_gz "$run" ;;
                cp) bench_cp "$run" ;;
            esac
        )
        rc=$?
        set -e
        if [ "$rc" != 0 ]; then
            say "$t (run $run): harness error (exit $rc); its remaining phases are marked failed"
        fi
        fill_missing "$run" "$t" "harness error (exit $rc)"
        rm -rf "$WORK"/*-repo "$WORK"/restore-* "$WORK"/tar-* "$WORK"/restic-cache "$WORK"/borg-base
    done
done

# ---------------------------------------------------------------------------
# report

info elapsed "$(($(date +%s) - START_TS))"
mkdir -p "$(dirname "$OUT")"
python3 "$ROOT/bench/report.py" --results "$RESULTS" --commands "$COMMANDS" --info "$INFO" \
    --manifest "$MANIFEST" --out "$OUT" --table-only
say "wrote $OUT (raw: $RESULTS, tool output: $LOGDIR) in $(($(date +%s) - START_TS))s"
