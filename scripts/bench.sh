#!/usr/bin/env bash
# Benchmark lockstep against restic, borg, tar, cp and rsync on a Posit-Connect-shaped fixture.
#
#   scripts/bench.sh [--scale tiny|small|medium] [--runs N] [--seed N]
#                    [--tools "lockstep restic borg tar-zstd tar-gz cp"]
#                    [--phases "backup churn restore window btrfs inplace"]
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
# Each run works on a copy of the kept fixture (cp -a, untimed), so the fixture stays
# pristine.  Phases of a run (--phases picks a subset; churn and restore need backup):
#   backup   per tool: initial backup into a fresh repository, no-change backup
#   churn    make_fixture.py --churn 1 on the copy, then each tool's backup of it
#   restore  per tool: full restore of the initial backup into an empty directory
#   window   lockstep application backup after 1% churn: the service's downtime, against
#            the hand procedures (tar cpzf; rsync while running, then a second rsync pass)
#   btrfs    the same with lockstep backup --fs-snapshot btrfs on a loop-mounted btrfs
#   inplace  lockstep restore --in-place of an application snapshot after 1% drift
# Every timed command starts from the same cache state: sync, drop the page cache, re-read
# its input (a backup: the working copy; a restore: the repository).  Figures are medians
# over the runs; a tool that is missing or fails gets "failed" cells, never a number.
# Writes docs/benchmarks.md (or --out) and prints the result tables.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCALE=small
RUNS=3
SEED=1
TOOLS="lockstep restic borg tar-zstd tar-gz cp"
ALL_PHASES="backup churn restore window btrfs inplace"
PHASES=$ALL_PHASES
BUILD=1
INSTALL=1
KEEP=0
OUT="$ROOT/docs/benchmarks.md"
BENCH_DIR=${BENCH_DIR:-/var/tmp/lockstep-bench}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-3600}
BENCH_BUILD_TIMEOUT=${BENCH_BUILD_TIMEOUT:-2400}

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

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
        --phases) PHASES=$2; shift 2 ;;
        --phases=*) PHASES=${1#*=}; shift ;;
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
for p in $PHASES; do
    case " $ALL_PHASES " in *" $p "*) ;; *) echo "bench.sh: unknown phase $p (phases: $ALL_PHASES)" >&2; exit 2 ;; esac
done
want_phase() { case " $PHASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
want_tool() { case " $TOOLS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# churn and restore work on the repositories of the backup phase
if { want_phase churn || want_phase restore; } && ! want_phase backup; then
    PHASES="backup $PHASES"
    echo "bench.sh: the churn and restore phases need the backup phase: added it" >&2
fi
PHASES=$(for p in $ALL_PHASES; do if want_phase "$p"; then printf '%s ' "$p"; fi; done)
PHASES=${PHASES% }
[ -n "$PHASES" ] || { echo "bench.sh: no phase selected" >&2; exit 2; }

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

BTRFS_IMG="$WORK/btrfs.img"        # the btrfs phase's file system image, loop-mounted on BTRFS_MNT
BTRFS_MNT="$WORK/btrfs-mnt"

btrfs_teardown() {  # unmount the btrfs phase's file system (and free its loop device), delete the image
    local dev
    if [ -d "$BTRFS_MNT" ] && mountpoint -q "$BTRFS_MNT" 2>/dev/null; then
        umount "$BTRFS_MNT" 2>/dev/null || { sleep 1; umount "$BTRFS_MNT" 2>/dev/null; } || umount -l "$BTRFS_MNT" || true
    fi
    if [ -e "$BTRFS_IMG" ] && command -v losetup >/dev/null 2>&1; then
        for dev in $(losetup -j "$BTRFS_IMG" -O NAME -n 2>/dev/null); do losetup -d "$dev" 2>/dev/null || true; done
    fi
    if [ -d "$BTRFS_MNT" ] && ! mountpoint -q "$BTRFS_MNT" 2>/dev/null; then rmdir "$BTRFS_MNT" 2>/dev/null || true; fi
    rm -f "$BTRFS_IMG"
}

cleanup() {
    local rc=$?
    btrfs_teardown   # always, --keep or not: never leave a loop mount behind
    if [ "$KEEP" = 0 ] && [ -d "$WORK" ]; then
        sync
        if [ -d "$BTRFS_MNT" ] && mountpoint -q "$BTRFS_MNT" 2>/dev/null; then
            say "warning: $BTRFS_MNT is still mounted; $WORK is left in place"
        else
            rm -rf "$WORK"
        fi
    fi
    return $rc
}
# A phase runs in a background subshell that the script waits for (PHASE_PID), so a signal is
# handled at once: the phase's processes are stopped (by process id, children first), then the
# EXIT trap unmounts and deletes.
PHASE_PID=""
kill_tree() {  # kill_tree PID: SIGTERM to PID's descendants, then PID
    local c
    for c in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$c"; done
    kill -TERM "$1" 2>/dev/null || true
}
on_signal() {
    trap '' INT TERM
    say "interrupted: stopping the current phase, then cleaning up"
    if [ -n "$PHASE_PID" ]; then
        kill_tree "$PHASE_PID"
        wait "$PHASE_PID" 2>/dev/null || true
    fi
    exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

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
if want_phase window; then has rsync || apt_install rsync || say "rsync unavailable"; fi
if want_phase btrfs; then has mkfs.btrfs || apt_install btrfs-progs || say "btrfs-progs unavailable"; fi
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
            say "building lockstep (swift build -c release --product lockstep --static-swift-stdlib)"
            brc=0
            (cd "$ROOT" && timeout "$BENCH_BUILD_TIMEOUT" swift build -c release --product lockstep --static-swift-stdlib) >"$LOGDIR/build.log" 2>&1 || brc=$?
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

need=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["bytes"]) * 10)' "$MANIFEST")
avail=$(df -B1 --output=avail "$BENCH_DIR" | tail -1 | tr -d ' ')
if [ "$avail" -lt "$need" ]; then
    say "warning: $((avail / 1048576)) MiB free in $BENCH_DIR, about $((need / 1048576)) MiB wanted"
fi

# The working copy: every run starts from a fresh `cp -a` of the kept fixture (untimed), and
# churn, drift and in-place restores change only that copy.  Its manifest sits beside it, as
# make_fixture.py --churn expects; its name stays the fixture's (for the restore checks).
SRC_PARENT="$WORK/src"
SRC="$SRC_PARENT/$FIXTURE_NAME"
# What prepare_cache re-reads: the input of the next command.  A backup's is the working copy; a
# restore's is the tool's repository (and its local cache), as cp -a's is the fixture: every
# restore then reads its input from the page cache, cp -a included.
CACHE_TREE=("$SRC")

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
    local tree
    for tree in "${CACHE_TREE[@]}"; do
        [ -e "$tree" ] && tar cf - -C "$(dirname "$tree")" "$(basename "$tree")" | cat >/dev/null
    done
    return 0
}

printf 'run\ttool\tphase\tstatus\twall_s\tuser_s\tsys_s\tmaxrss_kb\trepo_bytes\tnote\tverify\n' >"$RESULTS"
printf 'tool\tphase\tcommand\n' >"$COMMANDS"

record() {  # record RUN TOOL PHASE STATUS WALL USER SYS RSS REPO NOTE VERIFY
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
}

quote_cmd() {  # shell-quote only what needs it, for readable command lines
    local out="" a re='^[][A-Za-z0-9_./:=,@%+-]+$'
    for a in "$@"; do
        if [[ $a =~ $re ]]; then out+="$a "
        elif [[ $a != *"'"* ]]; then out+="'$a' "
        else out+="$(printf '%q' "$a") "; fi
    done
    printf '%s' "${out% }"
}

note_cmd() {  # note_cmd TOOL PHASE CMD...: list an untimed or not-run command in the report
    local c; c=$(quote_cmd "${@:3}")
    printf '%s\t%s\t%s\n' "$1" "$2" "${c//$PWFILE/PW}" >>"$COMMANDS"
}

note_text() {  # note_text TOOL PHASE TEXT: a command line given verbatim (a here-document, a pipe)
    printf '%s\t%s\t%s\n' "$1" "$2" "${3//$PWFILE/PW}" >>"$COMMANDS"
}

# measure RUN TOOL PHASE CWD CMD...: runs CMD timed; sets M_STATUS M_NOTE M_WALL M_USER M_SYS M_RSS.
# With MEASURE_STDOUT=FILE the command's stdout goes to FILE (for --json), its stderr to the log.
measure() {
    local run=$1 tool=$2 phase=$3 cwd=$4
    shift 4
    local tf="$LOGDIR/$tool.$phase.$run.time" lf="$LOGDIR/$tool.$phase.$run.log" of="${MEASURE_STDOUT:-}"
    [ -n "$of" ] || of="$lf"
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
    if [ "$of" = "$lf" ]; then
        (cd "$cwd" && exec /usr/bin/time -v -o "$tf" timeout --kill-after=30 "$BENCH_TIMEOUT" "$@") >"$lf" 2>&1 || rc=$?
    else
        (cd "$cwd" && exec /usr/bin/time -v -o "$tf" timeout --kill-after=30 "$BENCH_TIMEOUT" "$@") >"$of" 2>"$lf" || rc=$?
    fi
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

treesum_of() {  # treesum_of DIR: "CONTENT META" of the tree called FIXTURE_NAME in or below DIR
    local sum
    sum=$(python3 "$ROOT/bench/treesum.py" "$1" --name "$FIXTURE_NAME" --marker apps --marker R --marker db 2>&1 || true)
    python3 -c 'import json,sys
try:
    d = json.loads(sys.argv[1]); print(d.get("content_sha256", "-"), d.get("meta_sha256", "-"))
except ValueError:
    print("- -")' "$sum"
}

# check_tree DIR CONTENT META: sets M_VERIFY ("identical,identical" ...), and M_STATUS/M_NOTE when
# the contents differ
check_tree() {
    local got c m
    got=$(treesum_of "$1")
    c=${got% *}; m=${got#* }
    if [ "$c" = "$2" ]; then
        M_VERIFY="identical"
        if [ "$m" = "$3" ]; then M_VERIFY+=",identical"; else M_VERIFY+=",differs"; fi
    else
        M_STATUS=failed; M_NOTE="restored tree differs from the source"
        M_VERIFY="differs,—"
    fi
}

# ext4 without a journal (no /proc/fs/jbd2 entry for its device) passes over recently freed
# inodes when it allocates new ones (fs/ext4/ialloc.c, recently_deleted()): for 60 s after the
# removal, and for 360 s (RECENTCY_MIN 60 + RECENTCY_DIRTY 300) once the inode-table block that
# holds them is dirty -- which the restore's own allocations in that block make it.  Every
# allocation then scans the group's bitmap from its start past each such inode: a restore that
# starts within 6 minutes of removing a tree of ~150,000 files spends most of its system time
# there (perf: find_inode_bit -> recently_deleted -> find_get_block_common, 22% of all samples of
# a lockstep restore 61 s after the removal; 23.5 system s then, 12.2 after 400 s).  On such a
# file system the restore group starts 361 s after the last removal, and the restored trees are
# kept until the group ends, so that no restore follows a removal.  (With a journal, ext4 does
# not do this, and nothing waits.)  SETTLE is set with the machine facts below.
SETTLE=0

# timed_restore RUN TOOL CWD TARGET CMD...: like timed, then checks TARGET against the fixture
timed_restore() {
    local run=$1 tool=$2 cwd=$3 target=$4
    shift 4
    measure "$run" "$tool" restore "$cwd" "$@"
    M_VERIFY=""
    if [ "$M_STATUS" = ok ]; then
        check_tree "$target" "$REF_CONTENT" "$REF_META"
        if [ "$M_STATUS" = ok ]; then
            say "$tool restore (run $run): ${M_WALL}s wall, contents identical, metadata ${M_VERIFY#*,}"
        else
            say "$tool restore (run $run): restored tree differs from the source (log: $LOGDIR/$tool.restore.$run.log)"
        fi
    fi
    if [ "$M_STATUS" != ok ]; then M_WALL=""; M_USER=""; M_SYS=""; M_RSS=""; fi
    record "$run" "$tool" restore "$M_STATUS" "$M_WALL" "$M_USER" "$M_SYS" "$M_RSS" "" "$M_NOTE" "$M_VERIFY"
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

json_field() {  # json_field FILE KEY...: a value of the JSON document in FILE (nested keys), or nothing
    python3 -c 'import json,sys
try:
    d = json.load(open(sys.argv[1]))
    for k in sys.argv[2:]:
        d = d[int(k)] if isinstance(d, list) else d[k]
    print("" if d is None else d)
except Exception:
    pass' "$@" 2>/dev/null || true
}

# The phases of each tool in each group (backup, churn, restore): what gets a row in results.tsv.
phases_of() {  # phases_of TOOL GROUP
    case "$2:$1" in
        backup:tar-gz) echo "initial repo" ;;
        backup:cp) echo "" ;;
        backup:*) echo "initial repo nochange" ;;
        churn:lockstep|churn:restic|churn:borg|churn:tar-zstd) echo "churn" ;;
        churn:*) echo "" ;;
        restore:tar-gz) echo "" ;;
        restore:*) echo "restore" ;;
        window:lockstep) echo "appbackup window" ;;
        window:rsync) echo "prepass window" ;;
        window:tar-gz) echo "window" ;;
        btrfs:lockstep) echo "fsbackup fswindow" ;;
        inplace:lockstep) echo "inplace" ;;
        *) echo "" ;;
    esac
}

fill_missing() {  # fill_missing RUN TOOL GROUP REASON: a failed row for every phase that has none
    local p
    for p in $(phases_of "$2" "$3"); do
        if ! awk -F'\t' -v r="$1" -v t="$2" -v p="$p" '$1==r && $2==t && $3==p {f=1} END {exit !f}' "$RESULTS"; then
            record "$1" "$2" "$p" failed "" "" "" "" "" "$4" ""
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

STATE="$WORK/state"                # what one group leaves for the next (snapshot ids, "initial ok")
mark() { mkdir -p "$STATE"; printf '%s\n' "${3:-ok}" >"$STATE/$1.$2"; }
marked() { [ -s "$STATE/$1.$2" ]; }
marker() { cat "$STATE/$1.$2"; }

# churn_tree RUN DIR LABEL: make_fixture.py --churn 1 on DIR (untimed); its report goes to the log
churn_tree() {
    local run=$1 dir=$2 label=$3 line
    [ "$run" = 1 ] && note_cmd harness "$label, untimed" python3 "$ROOT/bench/make_fixture.py" --out "$dir" --churn 1
    line=$(python3 "$ROOT/bench/make_fixture.py" --out "$dir" --churn 1 2>>"$LOGDIR/churn.log" | tail -n 1)
    printf 'run %s, %s: %s\n' "$run" "$label" "$line" >>"$LOGDIR/churn.log"
    [ "$run" = 1 ] && info "churn:$label" "$line"
    say "$label: $line"
    sync
}

setup_source() {  # setup_source RUN: a fresh working copy of the kept fixture (untimed)
    local run=$1
    rm -rf "$SRC_PARENT"
    mkdir -p "$SRC_PARENT"
    [ "$run" = 1 ] && note_cmd harness "working copy of the fixture, untimed, each run" cp -a "$FIXTURE" "$SRC_PARENT/"
    cp -a "$FIXTURE" "$SRC_PARENT/"
    cp "$MANIFEST" "$SRC.manifest.json"
    sync
}

# ---------------------------------------------------------------------------
# the tools: bench_TOOL RUN GROUP, GROUP one of backup, churn, restore

bench_lockstep() {
    local run=$1 group=$2 repo="$WORK/lockstep-repo" target="$WORK/restore-lockstep"
    if [ -n "$LOCKSTEP_BROKEN" ]; then
        # shellcheck disable=SC2046
        fail_all "$run" lockstep "$LOCKSTEP_BROKEN" $(phases_of lockstep "$group")
        if [ "$run" = 1 ]; then
            local bin="${LOCKSTEP:-\$(swift build -c release --show-bin-path)/lockstep}" why="not run: $LOCKSTEP_BROKEN"
            case "$group" in
                backup)
                    note_cmd lockstep "setup, $why" "$bin" init --repo "$repo" --password-file "$PWFILE"
                    note_cmd lockstep "initial, $why" "$bin" backup --repo "$repo" --password-file "$PWFILE" "$SRC"
                    note_cmd lockstep "nochange, $why" "$bin" backup --repo "$repo" --password-file "$PWFILE" "$SRC" ;;
                churn) note_cmd lockstep "churn, $why" "$bin" backup --repo "$repo" --password-file "$PWFILE" "$SRC" ;;
                restore) note_cmd lockstep "restore, $why" "$bin" restore INITIAL --repo "$repo" --password-file "$PWFILE" --target "$target" ;;
            esac
        fi
        return
    fi
    case "$group" in
    backup)
        rm -rf "$repo"
        [ "$run" = 1 ] && note_cmd lockstep "setup, untimed" "$LOCKSTEP" init --repo "$repo" --password-file "$PWFILE"
        if ! "$LOCKSTEP" init --repo "$repo" --password-file "$PWFILE" >"$LOGDIR/lockstep.init.$run.log" 2>&1; then
            say "lockstep init failed; last lines of $LOGDIR/lockstep.init.$run.log:"
            tail -n 5 "$LOGDIR/lockstep.init.$run.log" | sed 's/^/    /' >&2 || true
            fail_all "$run" lockstep "init failed" initial repo nochange
            return
        fi
        if timed "$run" lockstep initial "$WORK" "$LOCKSTEP" backup --repo "$repo" --password-file "$PWFILE" "$SRC"; then
            repo_size "$run" lockstep "$repo"
            [ "$run" = 1 ] && note_cmd lockstep "initial snapshot id, untimed" "$LOCKSTEP" snapshots --json --repo "$repo" --password-file "$PWFILE"
            "$LOCKSTEP" snapshots --json --repo "$repo" --password-file "$PWFILE" >"$LOGDIR/lockstep.snapshots.$run.json" 2>>"$LOGDIR/lockstep.init.$run.log" || true
            mark lockstep initial "$(json_field "$LOGDIR/lockstep.snapshots.$run.json" 0 id)"
            timed "$run" lockstep nochange "$WORK" "$LOCKSTEP" backup --repo "$repo" --password-file "$PWFILE" "$SRC" || true
        else
            fail_all "$run" lockstep "initial backup failed" repo nochange
        fi ;;
    churn)
        if ! marked lockstep initial; then fail_all "$run" lockstep "initial backup failed" churn; return; fi
        timed "$run" lockstep churn "$WORK" "$LOCKSTEP" backup --repo "$repo" --password-file "$PWFILE" "$SRC" || true ;;
    restore)
        if ! marked lockstep initial; then fail_all "$run" lockstep "initial backup failed" restore; return; fi
        fresh "$target"
        CACHE_TREE=("$repo")
        timed_restore "$run" lockstep "$WORK" "$target" "$LOCKSTEP" restore "$(marker lockstep initial)" --repo "$repo" --password-file "$PWFILE" --target "$target" ;;
    esac
}

bench_restic() {
    local run=$1 group=$2 repo="$WORK/restic-repo" target="$WORK/restore-restic"
    # shellcheck disable=SC2046
    if ! has restic; then fail_all "$run" restic "restic not installed" $(phases_of restic "$group"); return; fi
    export RESTIC_PASSWORD_FILE="$PWFILE" RESTIC_CACHE_DIR="$WORK/restic-cache"
    case "$group" in
    backup)
        rm -rf "$repo" "$WORK/restic-cache"
        [ "$run" = 1 ] && note_cmd restic "setup, untimed" restic init --repo "$repo" --repository-version 2
        if ! restic init --repo "$repo" --repository-version 2 >"$LOGDIR/restic.init.$run.log" 2>&1; then
            fail_all "$run" restic "init failed" initial repo nochange; return
        fi
        if timed "$run" restic initial "$WORK" restic --repo "$repo" backup --compression auto "$SRC"; then
            repo_size "$run" restic "$repo"
            [ "$run" = 1 ] && note_cmd restic "initial snapshot id, untimed" restic --repo "$repo" snapshots --json
            restic --repo "$repo" snapshots --json >"$LOGDIR/restic.snapshots.$run.json" 2>>"$LOGDIR/restic.init.$run.log" || true
            mark restic initial "$(json_field "$LOGDIR/restic.snapshots.$run.json" 0 id)"
            timed "$run" restic nochange "$WORK" restic --repo "$repo" backup --compression auto "$SRC" || true
        else
            fail_all "$run" restic "initial backup failed" repo nochange
        fi ;;
    churn)
        if ! marked restic initial; then fail_all "$run" restic "initial backup failed" churn; return; fi
        timed "$run" restic churn "$WORK" restic --repo "$repo" backup --compression auto "$SRC" || true ;;
    restore)
        if ! marked restic initial; then fail_all "$run" restic "initial backup failed" restore; return; fi
        fresh "$target"
        CACHE_TREE=("$repo" "$WORK/restic-cache")
        timed_restore "$run" restic "$WORK" "$target" restic --repo "$repo" restore "$(marker restic initial)" --target "$target" ;;
    esac
    unset RESTIC_PASSWORD_FILE RESTIC_CACHE_DIR
}

bench_borg() {
    local run=$1 group=$2 repo="$WORK/borg-repo" target="$WORK/restore-borg"
    # shellcheck disable=SC2046
    if ! has borg; then fail_all "$run" borg "borg not installed" $(phases_of borg "$group"); return; fi
    BORG_PASSPHRASE=$(cat "$PWFILE")
    export BORG_PASSPHRASE BORG_BASE_DIR="$WORK/borg-base" BORG_RELOCATED_REPO_ACCESS_IS_OK=yes \
        BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=no BORG_DISPLAY_PASSPHRASE=no
    case "$group" in
    backup)
        rm -rf "$repo" "$WORK/borg-base"
        [ "$run" = 1 ] && note_cmd borg "setup, untimed" borg init --encryption=repokey "$repo"
        if ! borg init --encryption=repokey "$repo" >"$LOGDIR/borg.init.$run.log" 2>&1; then
            fail_all "$run" borg "init failed" initial repo nochange
        elif timed "$run" borg initial "$WORK" borg create --compression zstd,3 "$repo::initial" "$SRC"; then
            repo_size "$run" borg "$repo"
            mark borg initial initial
            timed "$run" borg nochange "$WORK" borg create --compression zstd,3 "$repo::nochange" "$SRC" || true
        else
            fail_all "$run" borg "initial backup failed" repo nochange
        fi ;;
    churn)
        if ! marked borg initial; then fail_all "$run" borg "initial backup failed" churn; return; fi
        timed "$run" borg churn "$WORK" borg create --compression zstd,3 "$repo::churn" "$SRC" || true ;;
    restore)
        if ! marked borg initial; then fail_all "$run" borg "initial backup failed" restore; return; fi
        fresh "$target"
        CACHE_TREE=("$repo" "$WORK/borg-base")
        timed_restore "$run" borg "$target" "$target" borg extract "$repo::initial" ;;
    esac
    unset BORG_PASSPHRASE BORG_BASE_DIR BORG_RELOCATED_REPO_ACCESS_IS_OK BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK BORG_DISPLAY_PASSPHRASE
}

bench_tar_zstd() {
    local run=$1 group=$2 dir="$WORK/tar-zstd" target="$WORK/restore-tar-zstd"
    # shellcheck disable=SC2046
    if ! has zstd; then fail_all "$run" tar-zstd "zstd not installed" $(phases_of tar-zstd "$group"); return; fi
    case "$group" in
    backup)
        fresh "$dir"
        if timed "$run" tar-zstd initial "$WORK" tar --zstd --listed-incremental="$dir/level0.snar" -cpf "$dir/level0.tar.zst" -C "$SRC_PARENT" "$FIXTURE_NAME"; then
            repo_size "$run" tar-zstd "$dir/level0.tar.zst"
            mark tar-zstd initial
            cp "$dir/level0.snar" "$dir/level1.snar"
            timed "$run" tar-zstd nochange "$WORK" tar --zstd --listed-incremental="$dir/level1.snar" -cpf "$dir/level1.tar.zst" -C "$SRC_PARENT" "$FIXTURE_NAME" || true
        else
            fail_all "$run" tar-zstd "initial backup failed" repo nochange
        fi ;;
    churn)
        if ! marked tar-zstd initial; then fail_all "$run" tar-zstd "initial backup failed" churn; return; fi
        [ "$run" = 1 ] && note_cmd tar-zstd "churn setup, untimed" cp "$dir/level0.snar" "$dir/churn.snar"
        cp "$dir/level0.snar" "$dir/churn.snar"
        timed "$run" tar-zstd churn "$WORK" tar --zstd --listed-incremental="$dir/churn.snar" -cpf "$dir/churn.tar.zst" -C "$SRC_PARENT" "$FIXTURE_NAME" || true ;;
    restore)
        if ! marked tar-zstd initial; then fail_all "$run" tar-zstd "initial backup failed" restore; return; fi
        fresh "$target"
        CACHE_TREE=("$dir/level0.tar.zst")
        timed_restore "$run" tar-zstd "$WORK" "$target" tar --zstd -xpf "$dir/level0.tar.zst" -C "$target" ;;
    esac
}

bench_tar_gz() {
    local run=$1 group=$2 dir="$WORK/tar-gz"
    [ "$group" = backup ] || return 0
    if ! has gzip; then fail_all "$run" tar-gz "gzip not installed" initial repo; return; fi
    fresh "$dir"
    if timed "$run" tar-gz initial "$WORK" tar -czpf "$dir/full.tar.gz" -C "$SRC_PARENT" "$FIXTURE_NAME"; then
        repo_size "$run" tar-gz "$dir/full.tar.gz"
    else
        fail_all "$run" tar-gz "initial backup failed" repo
    fi
    rm -rf "$dir"
}

bench_cp() {  # the restore baseline: cp -a of the (pristine) fixture, read from the page cache
    local run=$1 group=$2 target="$WORK/restore-cp"
    [ "$group" = restore ] || return 0
    fresh "$target"
    CACHE_TREE=("$FIXTURE")
    timed_restore "$run" cp "$WORK" "$target" cp -a "$FIXTURE" "$target/"
}

# ---------------------------------------------------------------------------
# application backups: the stop window, --fs-snapshot btrfs, in-place restore (lockstep only)
#
# The "service" is a state file: stopping removes it, starting creates it, and the status
# command tests it, so the service's own stop and start cost nothing and what is measured is
# lockstep's window.  The Connect configuration names the working copy as Server.DataDir; the
# fixture's db/ is where Connect keeps SQLite by default (SQLite.Dir = DataDir/db) and holds
# db/secret.key, the default Server.EncryptionKeyFile.

SERVICE_FLAG="$WORK/service-running"
SVC=(--stop-command "rm -f $SERVICE_FLAG" --start-command "touch $SERVICE_FLAG" --status-command "test -e $SERVICE_FLAG")

write_config() {  # write_config RUN FILE DATADIR
    local run=$1 cfg=$2 data=$3
    mkdir -p "$(dirname "$cfg")"
    printf '; Posit Connect configuration for the lockstep benchmark\n[Server]\nDataDir = %s\n\n[Database]\nProvider = sqlite\n' "$data" >"$cfg"
    [ "$run" = 1 ] && note_text harness "Connect configuration $cfg, untimed" "printf '[Server]\\nDataDir = $data\\n\\n[Database]\\nProvider = sqlite\\n' > $cfg"
    touch "$SERVICE_FLAG"
}

app_init() {  # app_init RUN REPO LABEL: a fresh repository for application snapshots
    local run=$1 repo=$2 label=$3
    rm -rf "$repo"
    [ "$run" = 1 ] && note_cmd lockstep "$label setup, untimed" "$LOCKSTEP" init --repo "$repo" --password-file "$PWFILE"
    "$LOCKSTEP" init --repo "$repo" --password-file "$PWFILE" >"$LOGDIR/lockstep.$label-init.$run.log" 2>&1
}

# app_parent RUN REPO CFG LABEL EXTRA...: the parent application snapshot (untimed); echoes its id
app_parent() {
    local run=$1 repo=$2 cfg=$3 label=$4 js
    shift 4
    js="$LOGDIR/lockstep.$label-parent.$run.json"
    [ "$run" = 1 ] && note_cmd lockstep "$label parent, untimed" "$LOCKSTEP" backup --repo "$repo" --password-file "$PWFILE" --app-config "$cfg" "${SVC[@]}" "$@" --json
    if ! "$LOCKSTEP" backup --repo "$repo" --password-file "$PWFILE" --app-config "$cfg" "${SVC[@]}" "$@" --json >"$js" 2>"$LOGDIR/lockstep.$label-parent.$run.log"; then
        say "lockstep $label: the parent application backup failed; last lines of $LOGDIR/lockstep.$label-parent.$run.log:"
        tail -n 5 "$LOGDIR/lockstep.$label-parent.$run.log" | sed 's/^/    /' >&2 || true
        return 1
    fi
    json_field "$js" snapshot_id
}

# app_window RUN BACKUP-PHASE WINDOW-PHASE REPO CFG EXTRA...: the timed application backup; records
# the whole command (BACKUP-PHASE) and the service's downtime from its --json (WINDOW-PHASE)
app_window() {
    local run=$1 bphase=$2 wphase=$3 repo=$4 cfg=$5 js down
    shift 5
    js="$LOGDIR/lockstep.$bphase.$run.json"
    MEASURE_STDOUT="$js" measure "$run" lockstep "$bphase" "$WORK" "$LOCKSTEP" backup --repo "$repo" --password-file "$PWFILE" --app-config "$cfg" "${SVC[@]}" "$@" --json
    record "$run" lockstep "$bphase" "$M_STATUS" "$M_WALL" "$M_USER" "$M_SYS" "$M_RSS" "" "$M_NOTE" ""
    if [ "$M_STATUS" != ok ]; then
        record "$run" lockstep "$wphase" failed "" "" "" "" "" "application backup failed ($M_NOTE)" ""
        return 1
    fi
    down=$(json_field "$js" downtime_seconds)
    if [ -z "$down" ]; then
        record "$run" lockstep "$wphase" failed "" "" "" "" "" "no downtime_seconds in the --json output" ""
        say "lockstep $bphase (run $run): no downtime_seconds in $js"
        return 1
    fi
    record "$run" lockstep "$wphase" ok "$down" "" "" "" "" "" ""
    say "lockstep $bphase (run $run): ${M_WALL}s wall, service down ${down}s, $((M_RSS / 1024)) MiB RSS"
}

# window: parent app backup and a copy for rsync (untimed), 1% churn, then timed: lockstep's app
# backup (downtime from --json), rsync while running (pass 1) and its second pass (the hand
# procedure's window), and tar cpzf when the backup phase did not measure it.
bench_window() {
    local run=$1 repo="$WORK/lockstep-app-repo" cfg="$WORK/etc/rstudio-connect.gcfg" dst="$WORK/rsync-copy"
    local units=(lockstep rsync) i u n
    if ! want_phase backup || ! want_tool tar-gz; then units+=(tar-gz); fi
    write_config "$run" "$cfg" "$SRC"
    local lockstep_ok=1
    if ! want_tool lockstep; then
        lockstep_ok=0
    elif [ -n "$LOCKSTEP_BROKEN" ]; then
        fail_all "$run" lockstep "$LOCKSTEP_BROKEN" appbackup window; lockstep_ok=0
    elif ! app_init "$run" "$repo" app || ! app_parent "$run" "$repo" "$cfg" app >/dev/null; then
        fail_all "$run" lockstep "parent application backup failed" appbackup window; lockstep_ok=0
    fi
    local rsync_ok=1
    if ! has rsync; then
        fail_all "$run" rsync "rsync not installed" prepass window; rsync_ok=0
    else
        fresh "$dst"
        [ "$run" = 1 ] && note_cmd rsync "the previous night's copy, untimed" rsync -aHAXS "$SRC/" "$dst/"
        rsync -aHAXS "$SRC/" "$dst/" >"$LOGDIR/rsync.setup.$run.log" 2>&1 || { fail_all "$run" rsync "initial copy failed" prepass window; rsync_ok=0; }
    fi
    churn_tree "$run" "$SRC" "window churn"
    n=${#units[@]}
    for ((i = 0; i < n; i++)); do
        u=${units[$(((i + run - 1) % n))]}
        case "$u" in
            lockstep) [ "$lockstep_ok" = 1 ] && { app_window "$run" appbackup window "$repo" "$cfg" || true; } ;;
            rsync)
                if [ "$rsync_ok" = 1 ]; then
                    if timed "$run" rsync prepass "$WORK" rsync -aHAXS "$SRC/" "$dst/"; then
                        timed "$run" rsync window "$WORK" rsync -aHAXS --delete "$SRC/" "$dst/" || true
                    else
                        fail_all "$run" rsync "first pass failed" window
                    fi
                fi ;;
            tar-gz)
                if has gzip; then
                    fresh "$WORK/tar-gz-window"
                    timed "$run" tar-gz window "$WORK" tar -czpf "$WORK/tar-gz-window/full.tar.gz" -C "$SRC_PARENT" "$FIXTURE_NAME" || true
                    rm -rf "$WORK/tar-gz-window"
                else
                    fail_all "$run" tar-gz "gzip not installed" window
                fi ;;
        esac
    done
    # $dst stays until the run ends: the in-place restore comes next (see SETTLE).
}

# inplace: an application snapshot of the working copy (untimed), its fingerprint, 1% drift,
# then the timed in-place restore of that snapshot, checked against the fingerprint.
bench_inplace() {
    local run=$1 repo="$WORK/lockstep-app-repo" cfg="$WORK/etc/rstudio-connect.gcfg" snap want js down
    if [ -n "$LOCKSTEP_BROKEN" ]; then fail_all "$run" lockstep "$LOCKSTEP_BROKEN" inplace; return; fi
    write_config "$run" "$cfg" "$SRC"
    if [ ! -d "$repo" ]; then
        app_init "$run" "$repo" app || { fail_all "$run" lockstep "init failed" inplace; return; }
    fi
    snap=$(app_parent "$run" "$repo" "$cfg" inplace) || true
    if [ -z "$snap" ]; then fail_all "$run" lockstep "application backup failed" inplace; return; fi
    want=$(treesum_of "$SRC")
    churn_tree "$run" "$SRC" "in-place drift"
    js="$LOGDIR/lockstep.inplace.$run.json"
    CACHE_TREE=("$SRC" "$repo")  # its inputs: the data directory it compares, the repository
    MEASURE_STDOUT="$js" measure "$run" lockstep inplace "$WORK" "$LOCKSTEP" restore "$snap" --repo "$repo" --password-file "$PWFILE" --in-place "${SVC[@]}" --no-safety-snapshot --json
    M_VERIFY=""
    if [ "$M_STATUS" = ok ]; then
        check_tree "$SRC" "${want% *}" "${want#* }"
        if [ "$M_STATUS" = ok ]; then
            down=$(json_field "$js" summary downtime_seconds)
            say "lockstep inplace (run $run): ${M_WALL}s wall, service down ${down:-?}s, contents identical to the snapshot, metadata ${M_VERIFY#*,}"
            [ -n "$down" ] && record "$run" lockstep inplacewindow ok "$down" "" "" "" "" "" ""
        else
            M_NOTE="restored data directory differs from the snapshot"
            say "lockstep inplace (run $run): the data directory differs from the snapshot after the restore"
        fi
    fi
    if [ "$M_STATUS" != ok ]; then M_WALL=""; M_USER=""; M_SYS=""; M_RSS=""; fi
    record "$run" lockstep inplace "$M_STATUS" "$M_WALL" "$M_USER" "$M_SYS" "$M_RSS" "" "$M_NOTE" "$M_VERIFY"
}

# btrfs: a loop-mounted btrfs (sparse image in WORK, ~2.5x the fixture) with the data directory
# as a subvolume, a copy of the fixture in it (untimed); parent app backup with --fs-snapshot
# btrfs, 1% churn, then the timed one.  btrfs_teardown (also in the EXIT trap) unmounts it.
bench_btrfs() {
    local run=$1 repo="$WORK/lockstep-btrfs-repo" cfg="$WORK/etc-btrfs/rstudio-connect.gcfg"
    local data="$BTRFS_MNT/$FIXTURE_NAME" size
    if [ -n "$LOCKSTEP_BROKEN" ]; then fail_all "$run" lockstep "$LOCKSTEP_BROKEN" fsbackup fswindow; return; fi
    if ! has mkfs.btrfs || ! has btrfs; then fail_all "$run" lockstep "btrfs-progs not installed" fsbackup fswindow; return; fi
    local supported=1
    "$LOCKSTEP" backup --help 2>/dev/null | grep -q -- '--fs-snapshot' || supported=0
    size=$(python3 -c 'import json,sys; print(max(512 << 20, int(json.load(open(sys.argv[1]))["bytes"] * 2.5)))' "$MANIFEST")
    btrfs_teardown
    mkdir -p "$BTRFS_MNT"
    if [ "$run" = 1 ]; then
        note_cmd harness "btrfs file system, untimed" truncate -s "$size" "$BTRFS_IMG"
        note_cmd harness "btrfs file system, untimed" mkfs.btrfs -q -f "$BTRFS_IMG"
        note_cmd harness "btrfs file system, untimed" mount -o loop "$BTRFS_IMG" "$BTRFS_MNT"
        note_cmd harness "btrfs file system, untimed" btrfs subvolume create "$data"
        note_cmd harness "btrfs file system, untimed" cp -a "$FIXTURE/." "$data/"
    fi
    truncate -s "$size" "$BTRFS_IMG"
    mkfs.btrfs -q -f "$BTRFS_IMG" >"$LOGDIR/btrfs.setup.$run.log" 2>&1
    mount -o loop "$BTRFS_IMG" "$BTRFS_MNT" >>"$LOGDIR/btrfs.setup.$run.log" 2>&1
    btrfs subvolume create "$data" >>"$LOGDIR/btrfs.setup.$run.log" 2>&1
    cp -a "$FIXTURE/." "$data/"
    cp "$MANIFEST" "$data.manifest.json"
    sync
    write_config "$run" "$cfg" "$data"
    if [ "$supported" = 0 ]; then
        fail_all "$run" lockstep "not supported by this build" fsbackup fswindow
        [ "$run" = 1 ] && note_cmd lockstep "fsbackup, not run: not supported by this build" "$LOCKSTEP" backup --repo "$repo" --password-file "$PWFILE" --app-config "$cfg" "${SVC[@]}" --fs-snapshot btrfs --json
        say "lockstep btrfs (run $run): lockstep backup --help does not mention --fs-snapshot: not supported by this build"
        btrfs_teardown
        return
    fi
    if ! app_init "$run" "$repo" btrfs || ! app_parent "$run" "$repo" "$cfg" btrfs --fs-snapshot btrfs >/dev/null; then
        fail_all "$run" lockstep "parent application backup with --fs-snapshot btrfs failed" fsbackup fswindow
    else
        churn_tree "$run" "$data" "btrfs churn"
        CACHE_TREE=("$data")
        app_window "$run" fsbackup fswindow "$repo" "$cfg" --fs-snapshot btrfs || true
    fi
    btrfs_teardown
}

# ---------------------------------------------------------------------------
# machine and versions

info() { printf '%s\t%s\n' "$1" "$2" >>"$INFO"; }
printf 'key\tvalue\n' >"$INFO"
info date "$(date -u '+%Y-%m-%d %H:%M UTC')"
fs_line=$(findmnt -no SOURCE,FSTYPE --target "$BENCH_DIR" 2>/dev/null | head -n 1 || true)
fs_dev=${fs_line%% *}
fs_type=${fs_line##* }
if [ "$fs_type" = ext4 ] && [ -d /proc/fs/jbd2 ] && ! compgen -G "/proc/fs/jbd2/$(basename "$fs_dev")-*" >/dev/null; then
    SETTLE=1
    info fs "ext4 without a journal ($fs_dev): the restores of a run start 361 s after the last removal and their trees are kept until all have run (ext4 skips inodes freed in the last 60 s, 360 s once their inode-table block is dirty)"
elif [ -n "$fs_type" ]; then
    info fs "$fs_type ($fs_dev)"
fi
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
    info cache_policy "dropped before every timed command (echo 1 > /proc/sys/vm/drop_caches), then its input re-read (a restore: the repository)"
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
                info "version:lockstep" "${v:-unknown} (work tree: $g, swift build -c release --static-swift-stdlib)"
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
if want_phase window; then has rsync && ver rsync rsync --version; fi
if want_phase btrfs; then has btrfs && ver btrfs-progs btrfs --version; fi

# ---------------------------------------------------------------------------
# runs

btrfs_teardown
rm -rf "$WORK"
mkdir -p "$WORK"
( umask 077 && printf 'lockstep-bench-%s\n' "$SEED" >"$PWFILE" )
info phases "$PHASES"

bench_tool() {  # bench_tool TOOL RUN GROUP
    case "$1" in
        lockstep) bench_lockstep "$2" "$3" ;;
        restic) bench_restic "$2" "$3" ;;
        borg) bench_borg "$2" "$3" ;;
        tar-zstd) bench_tar_zstd "$2" "$3" ;;
        tar-gz) bench_tar_gz "$2" "$3" ;;
        cp) bench_cp "$2" "$3" ;;
    esac
}

# run_group RUN GROUP TOOL...: the group's phases for each tool, in an order rotated from run to
# run.  Each tool runs in its own subshell with errexit: a harness error there ends that tool's
# part of the group only; its phases without a row are then recorded as failed.
run_group() {
    local run=$1 group=$2 n i t rc
    shift 2
    local list=("$@")
    n=${#list[@]}
    for ((i = 0; i < n; i++)); do
        t=${list[$(((i + run - 1) % n))]}
        [ -n "$(phases_of "$t" "$group")" ] || continue
        set +e
        ( set -e; bench_tool "$t" "$run" "$group" ) &
        PHASE_PID=$!
        wait "$PHASE_PID"
        rc=$?
        PHASE_PID=""
        set -e
        if [ "$rc" != 0 ]; then
            say "$t $group (run $run): harness error (exit $rc); its remaining phases are marked failed"
        fi
        fill_missing "$run" "$t" "$group" "harness error (exit $rc)"
    done
}

# run_single RUN GROUP FUNCTION TOOL...: a phase of its own (window, inplace, btrfs) in a subshell;
# the TOOLs' rows it did not record are then recorded as failed
run_single() {
    local run=$1 group=$2 fn=$3 rc t
    shift 3
    set +e
    ( set -e; "$fn" "$run" ) &
    PHASE_PID=$!
    wait "$PHASE_PID"
    rc=$?
    PHASE_PID=""
    set -e
    if [ "$rc" != 0 ]; then say "$group (run $run): harness error (exit $rc); its remaining phases are marked failed"; fi
    for t in "$@"; do fill_missing "$run" "$t" "$group" "harness error (exit $rc)"; done
}

read -r -a TOOL_LIST <<<"$TOOLS"
for ((run = 1; run <= RUNS; run++)); do
    say "run $run of $RUNS: phases $PHASES"
    rm -rf "$STATE"
    setup_source "$run"
    if want_phase backup; then run_group "$run" backup "${TOOL_LIST[@]}"; fi
    if want_phase churn; then
        churn_tree "$run" "$SRC" "churn"
        run_group "$run" churn "${TOOL_LIST[@]}"
    fi
    if want_phase restore; then
        # See SETTLE: nothing is removed from here until the group ends.
        if [ "$SETTLE" = 1 ]; then say "waiting 361 s for ext4 to let go of the inodes freed last"; sync; sleep 361; fi
        run_group "$run" restore "${TOOL_LIST[@]}"
    fi
    # The restored trees stay until the run ends (see SETTLE); repositories hold few inodes.
    rm -rf "$WORK"/*-repo "$WORK"/tar-* "$WORK"/restic-cache "$WORK"/borg-base "$STATE"
    if want_phase window; then
        window_tools=(rsync)
        want_tool lockstep && window_tools+=(lockstep)
        if ! want_phase backup || ! want_tool tar-gz; then window_tools+=(tar-gz); fi
        run_single "$run" window bench_window "${window_tools[@]}"
    fi
    if want_phase inplace && want_tool lockstep; then run_single "$run" inplace bench_inplace lockstep; fi
    rm -rf "$WORK"/*-repo "$WORK/rsync-copy" "$WORK/etc"
    if want_phase btrfs && want_tool lockstep; then
        run_single "$run" btrfs bench_btrfs lockstep
        btrfs_teardown
    fi
    rm -rf "$WORK"/*-repo "$WORK/etc-btrfs" "$WORK"/restore-* "$SRC_PARENT"
done

# ---------------------------------------------------------------------------
# report

info elapsed "$(($(date +%s) - START_TS))"
mkdir -p "$(dirname "$OUT")"
python3 "$ROOT/bench/report.py" --results "$RESULTS" --commands "$COMMANDS" --info "$INFO" \
    --manifest "$MANIFEST" --out "$OUT" --table-only
say "wrote $OUT (raw: $RESULTS, tool output: $LOGDIR) in $(($(date +%s) - START_TS))s"
