#!/usr/bin/env python3
"""Turn the raw measurements of scripts/bench.sh into markdown.

    report.py --results R.tsv --commands C.tsv --info I.tsv --manifest M.json [--out docs/benchmarks.md]

Only numbers present in the results file are written.  A figure is the
median over the runs, and it is shown only when every run of that tool and
phase succeeded; otherwise the cell says what failed.
"""

import argparse
import csv
import json
import statistics
import sys

TOOLS = ["lockstep", "restic", "borg", "tar-zstd", "tar-gz", "cp", "rsync"]
TOOL_LABEL = {
    "lockstep": "lockstep",
    "restic": "restic (`--compression auto`)",
    "borg": "borg (`zstd,3`, repokey)",
    "tar-zstd": "tar + zstd",
    "tar-gz": "tar + gzip",
    "cp": "cp -a",
    "rsync": "rsync -aHAXS",
}
PHASES = ["initial", "nochange", "churn", "restore"]
PHASE_LABEL = {"initial": "initial backup", "nochange": "no-change backup", "churn": "backup after 1% churn",
               "restore": "full restore"}
FIGURES = [("wall", "wall s", "s"), ("cpu", "CPU s (user+sys)", "s"), ("rss", "peak RSS MiB", "MiB"),
           ("repo", "repo size MiB", "MiB")]


def load_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


class Cell:
    def __init__(self, values=None, error=None, runs=0):
        self.values = values or []
        self.error = error
        self.runs = runs

    @property
    def median(self):
        return statistics.median(self.values) if self.values and not self.error else None

    def fmt(self, unit, spread=False):
        if self.error:
            return "failed: " + self.error
        m = self.median
        if m is None:
            return "—"
        s = fmt_num(m)
        if spread and len(self.values) > 1:
            s += " (%s–%s)" % (fmt_num(min(self.values)), fmt_num(max(self.values)))
        return s


def fmt_num(v):
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def collect(rows, nruns):
    """(tool, phase, figure) -> Cell"""
    by = {}
    for r in rows:
        by.setdefault((r["tool"], r["phase"]), []).append(r)
    cells = {}
    for (tool, phase), rs in by.items():
        if phase == "repo":
            vals = [num(r["repo_bytes"]) for r in rs if r["status"] == "ok" and num(r["repo_bytes"]) is not None]
            bad = [r for r in rs if r["status"] != "ok"]
            err = None
            if bad or len(vals) < nruns:
                err = bad[0]["note"] or bad[0]["status"] if bad else "%d of %d runs measured" % (len(vals), nruns)
            cells[(tool, "initial", "repo")] = Cell([v / 2**20 for v in vals], err, len(rs))
            continue
        ok = [r for r in rs if r["status"] == "ok"]
        bad = [r for r in rs if r["status"] != "ok"]
        err = None
        if bad:
            reason = bad[0]["note"] or bad[0]["status"]
            err = reason if len(bad) == len(rs) else "%s (%d of %d runs)" % (reason, len(bad), len(rs))
        elif len(ok) < nruns:
            err = "only %d of %d runs measured" % (len(ok), nruns)
        cells[(tool, phase, "wall")] = Cell([num(r["wall_s"]) for r in ok], err, len(rs))
        # the window rows carry only a duration (the service's downtime)
        if all(num(r["user_s"]) is not None and num(r["sys_s"]) is not None for r in ok):
            cells[(tool, phase, "cpu")] = Cell([num(r["user_s"]) + num(r["sys_s"]) for r in ok], err, len(rs))
        if all(num(r["maxrss_kb"]) is not None for r in ok):
            cells[(tool, phase, "rss")] = Cell([num(r["maxrss_kb"]) / 1024 for r in ok], err, len(rs))
    return cells


def ratio(a: Cell, b: Cell):
    if a is None or b is None or a.median is None or b.median is None or b.median == 0:
        return "—"
    return "%.2f×" % (a.median / b.median)


def target_row(what, limit, a, b, a_name, b_name, strict=False):
    """One row of the targets table: ratio a / b of medians against limit (≤, or < when strict)."""
    def why(c, name):
        if c is None:
            return "%s not measured in this run" % name
        if c.error:
            return "%s failed: %s" % (name, c.error)
        return None
    reason = why(a, a_name) or why(b, b_name)
    if reason is None and (a.median is None or b.median is None or b.median == 0):
        reason = "no figure"
    if reason:
        return "| %s | %s | — | not measured (%s) |" % (what, ("< %g×" if strict else "≤ %g×") % limit, reason)
    r = a.median / b.median
    met = r < limit if strict else r <= limit
    return "| %s | %s | %.2f× (%s ÷ %s) | %s |" % (what, ("< %g×" if strict else "≤ %g×") % limit, r, fmt_num(a.median),
                                                  fmt_num(b.median), "**met**" if met else "not met")


def render(args):
    rows = load_tsv(args.results)
    cmds = load_tsv(args.commands) if args.commands else []
    info = {r["key"]: r["value"] for r in load_tsv(args.info)}
    with open(args.manifest) as f:
        man = json.load(f)
    nruns = int(info.get("runs", "1"))
    cells = collect(rows, nruns)
    tools = [t for t in TOOLS if any(k[0] == t for k in cells)]
    out = []
    w = out.append
    w("# lockstep benchmarks")
    w("")
    w("Generated by `scripts/bench.sh` (`make bench`) on %s. Every figure below was measured in that run; "
      "nothing is carried over from elsewhere. A figure is the **median of %d run%s**; a cell reads *failed* when "
      "any run of that tool and phase failed, with the reason." % (info.get("date", "?"), nruns, "s" if nruns != 1 else ""))
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("| --- | --- |")
    for k, label in [("cpu", "CPU"), ("nproc", "cores (nproc)"), ("mem", "memory"), ("kernel", "kernel"),
                     ("disk", "disk (df, work dir)"), ("fs", "file system (work dir)"), ("load", "load average"),
                     ("cache_policy", "page cache")]:
        if k in info:
            w("| %s | %s |" % (label, info[k].replace("|", "\\|")))
    w("")
    w("## Tool versions")
    w("")
    w("| tool | version |")
    w("| --- | --- |")
    for k in sorted(x for x in info if x.startswith("version:")):
        w("| %s | %s |" % (k.split(":", 1)[1], info[k].replace("|", "\\|")))
    w("")
    w("## Fixture")
    w("")
    w("`python3 bench/make_fixture.py --out %s --scale %s --seed %s`: a Posit-Connect-shaped data directory "
      "(R and Python package libraries repeated across environments, app bundles unpacked and as .tar.gz, "
      "rendered reports, logs, a SQLite database). **%s regular files, %.1f MiB (%s bytes)**, %s directories, "
      "%s symlinks; generated in %ss. The fixture is kept between runs of the script when scale and seed match "
      "(its manifest is `%s.manifest.json`); repositories and restore directories are deleted at the end." % (
          info.get("fixture", "?"), man["scale"], man["seed"], "{:,}".format(man["files"]), man["bytes"] / 2**20,
          "{:,}".format(man["bytes"]), "{:,}".format(man["dirs"]), man["symlinks"], man.get("generated_in_s", "?"),
          info.get("fixture", "?")))
    w("")
    w("## Method")
    w("")
    phases = info.get("phases", "backup restore").split()
    w("Phases run: %s. Each run starts from a fresh working copy of the kept fixture (`cp -a`, untimed), so the "
      "fixture itself is never changed; churn and drift are applied to the copy with `make_fixture.py --churn 1`, "
      "which adds new bundles (and drops the oldest unpacked one), appends to logs, adds job logs, re-renders "
      "reports and inserts database rows, about 1%% of the bytes." % ", ".join("`%s`" % p for p in phases))
    w("")
    w("- **backup**: per tool a fresh repository, the initial backup of the working copy, then a second backup "
      "with nothing changed.")
    w("- **churn**: one 1% churn of the working copy, then each tool's backup of it into the same repository "
      "(tar + zstd: a GNU tar level-1 incremental against the initial backup's snapshot file).")
    w("- **restore**: per tool a full restore of the *initial* backup into an empty directory, checked against "
      "the fixture (paths, types, contents, symlink targets); one that does not match counts as failed. `cp -a` "
      "of the fixture is the baseline.")
    w("- **window**: the application backup, lockstep only, against the hand procedures. A Connect configuration "
      "names the working copy as `Server.DataDir` (SQLite in `DataDir/db`, Connect's default `SQLite.Dir`); the "
      "\"service\" is a state file that the stop command removes, the start command creates and the status command "
      "tests, so its own stop and start cost nothing. Untimed: a parent application snapshot and an rsync copy "
      "(the previous night's). Then 1% churn, and timed: `lockstep backup --app-config … --json` (the **service "
      "down** figure is its `downtime_seconds`, from the stop request until the service reported running again); "
      "`rsync -aHAXS` while the service runs (first pass) and the second pass `rsync -aHAXS --delete` (the hand "
      "procedure's window: service down for its whole wall time); `tar cpzf` of the data directory (the documented "
      "procedure's window, taken from the tar + gzip initial backup when the backup phase measured it).")
    w("- **btrfs**: the same with `lockstep backup --fs-snapshot btrfs`, the data directory a btrfs subvolume on a "
      "loop-mounted sparse image in the work directory (a copy of the fixture, untimed; parent snapshot, 1% churn, "
      "then the timed backup). Compared with the second rsync pass of the window phase.")
    w("- **inplace**: an application snapshot of the working copy (untimed) and a fingerprint of the tree, 1% drift, "
      "then the timed `lockstep restore SNAPSHOT --in-place --no-safety-snapshot`; the data directory must then match "
      "the fingerprint. Compared with lockstep's full restore into an empty directory.")
    w("")
    w("Before **every** timed command: `sync; echo 1 > /proc/sys/vm/drop_caches`, then the command's input is "
      "read once (`tar cf - TREE | cat > /dev/null`): a backup's is the working copy (its repository is not read), a "
      "restore's is the tool's repository and local cache (`cp -a`'s the fixture), an in-place restore's the data "
      "directory and the repository. Every tool starts with its input in the page cache. Each command runs under "
      "`/usr/bin/time -v`: CPU is user+sys of the command and all its children, peak RSS is \"Maximum resident set "
      "size\" (the largest single process of the tree). Wall time is measured around the command **plus a trailing "
      "`sync`**, so data a tool left dirty in the page cache is counted. Repository size is `du -sb` of the "
      "repository (for tar, the archive) right after the initial backup. The order of the tools rotates from run to "
      "run within each phase.")
    w("")
    churns = sorted((k.split(":", 1)[1], v) for k, v in info.items() if k.startswith("churn:"))
    if churns:
        w("What the churn did in run 1 (`make_fixture.py` reports approximate bytes):")
        w("")
        for k, v in churns:
            w("- %s: %s" % (k, v))
        w("")
    w("## Results")
    w("")
    if not rows:
        w("No measurements were recorded.")
    for phase in PHASES:
        if not any(k[0] in TOOLS and k[1] == phase for k in cells):
            continue
        w("### %s" % PHASE_LABEL[phase])
        w("")
        figs = [f for f in FIGURES if f[0] != "repo" or phase == "initial"]
        w("| tool | " + " | ".join(f[1] for f in figs) + " |")
        w("| --- |" + " ---: |" * len(figs))
        for t in tools:
            if not any((t, phase, f[0]) in cells for f in figs):
                continue
            row = [cells[(t, phase, f[0])].fmt(f[2], spread=nruns > 1) if (t, phase, f[0]) in cells else "—" for f in figs]
            # one failure reason per row is enough
            row = [row[0]] + ["failed" if c.startswith("failed: ") and c == row[0] else c for c in row[1:]]
            w("| %s | %s |" % (TOOL_LABEL[t], " | ".join(row)))
        w("")

    def fig(tool, phase, f):
        c = cells.get((tool, phase, f))
        return c.fmt("", spread=nruns > 1) if c else "—"

    def window_row(label, down, tool, phase):
        row = [fig(*down, "wall") if down else "— (service running)"] + [fig(tool, phase, f) for f in ("wall", "cpu", "rss")]
        row = [row[0]] + ["failed" if c.startswith("failed: ") and c == row[0] else c for c in row[1:]]
        w("| %s | %s |" % (label, " | ".join(row)))

    tar_window = ("tar-gz", "window") if ("tar-gz", "window", "wall") in cells else ("tar-gz", "initial")
    if any(k[1] in ("window", "appbackup", "prepass") for k in cells):
        w("### application backup after 1% churn: the service's stop window")
        w("")
        w("| procedure | service down s | command wall s | CPU s (user+sys) | peak RSS MiB |")
        w("| --- | ---: | ---: | ---: | ---: |")
        if ("lockstep", "appbackup", "wall") in cells:
            window_row("lockstep `backup --app-config` (pre-pass while running, then the window)",
                       ("lockstep", "window"), "lockstep", "appbackup")
        if ("rsync", "prepass", "wall") in cells:
            window_row("rsync, first pass (service running)", None, "rsync", "prepass")
        if ("rsync", "window", "wall") in cells:
            window_row("rsync, second pass (service stopped)", ("rsync", "window"), "rsync", "window")
        if (tar_window + ("wall",)) in cells:
            window_row("`tar cpzf` of the data directory (service stopped)%s" % (
                "" if tar_window[1] == "window" else "; the tar + gzip initial backup"), tar_window, *tar_window)
        w("")
    if any(k[1] in ("fsbackup", "fswindow") for k in cells):
        w("### application backup after 1% churn with `--fs-snapshot btrfs`")
        w("")
        w("| procedure | service down s | command wall s | CPU s (user+sys) | peak RSS MiB |")
        w("| --- | ---: | ---: | ---: | ---: |")
        window_row("lockstep `backup --app-config --fs-snapshot btrfs`", ("lockstep", "fswindow"), "lockstep", "fsbackup")
        if ("rsync", "window", "wall") in cells:
            window_row("rsync, second pass (window phase, service stopped)", ("rsync", "window"), "rsync", "window")
        w("")
    if any(k[1] == "inplace" for k in cells):
        w("### in-place restore after 1% drift")
        w("")
        w("| restore | wall s | CPU s (user+sys) | peak RSS MiB | service down s |")
        w("| --- | ---: | ---: | ---: | ---: |")
        row = [fig("lockstep", "inplace", f) for f in ("wall", "cpu", "rss")] + [fig("lockstep", "inplacewindow", "wall")]
        row = [row[0]] + ["failed" if c.startswith("failed: ") and c == row[0] else c for c in row[1:]]
        w("| lockstep `restore --in-place` | %s |" % " | ".join(row))
        if ("lockstep", "restore", "wall") in cells:
            w("| lockstep full restore into an empty directory | %s | — |" % " | ".join(
                fig("lockstep", "restore", f) for f in ("wall", "cpu", "rss")))
        w("")
    if nruns > 1:
        w("Cells show the median and, in brackets, the range over the runs.")
        w("")
    ratio_phases = [p for p in PHASES if any(k[1] == p for k in cells)]
    if ratio_phases:
        w("### lockstep relative to restic and borg")
        w("")
        w("Ratio of medians, lockstep ÷ peer: below 1× means lockstep used less (time, memory, space).")
        w("")
        if not any(k[0] == "lockstep" and c.median is not None for k, c in cells.items()):
            w("lockstep produced no measurement in this run, so there is no ratio to show.")
            w("")
        w("| phase | figure | lockstep / restic | lockstep / borg |")
        w("| --- | --- | ---: | ---: |")
        for phase in ratio_phases:
            for f in FIGURES:
                if f[0] == "repo" and phase != "initial":
                    continue
                a = cells.get(("lockstep", phase, f[0]))
                w("| %s | %s | %s | %s |" % (PHASE_LABEL[phase], f[1], ratio(a, cells.get(("restic", phase, f[0]))),
                                             ratio(a, cells.get(("borg", phase, f[0])))))
        w("")
    verif = [r for r in rows if r["phase"] in ("restore", "inplace") and r.get("verify")]
    if verif:
        w("### Restore checks")
        w("")
        w("Full restores are compared with the fixture; the in-place restore with the data directory as it was when "
          "its snapshot was taken.")
        w("")
        w("| run | tool | restore | contents | metadata (modes, mtimes) |")
        w("| ---: | --- | --- | --- | --- |")
        for r in sorted(verif, key=lambda r: (int(r["run"]), r["phase"] == "inplace", TOOLS.index(r["tool"]))):
            c, _, m = r["verify"].partition(",")
            w("| %s | %s | %s | %s | %s |" % (r["run"], r["tool"], "in place" if r["phase"] == "inplace" else "full",
                                              c, m or "—"))
        w("")
    w("## Targets")
    w("")
    w("The targets of issue 4 (lower is better for lockstep), each a ratio of the medians above. *not measured* says "
      "which figure is missing in this run and why.")
    w("")
    w("| target | limit | measured | |")
    w("| --- | ---: | ---: | --- |")
    C = lambda t, p, f="wall": cells.get((t, p, f))
    T = w
    T(target_row("initial backup wall time vs restic", 0.5, C("lockstep", "initial"), C("restic", "initial"), "lockstep", "restic"))
    T(target_row("initial backup wall time vs borg", 0.5, C("lockstep", "initial"), C("borg", "initial"), "lockstep", "borg"))
    T(target_row("no-change backup wall time vs restic", 0.25, C("lockstep", "nochange"), C("restic", "nochange"), "lockstep", "restic"))
    T(target_row("no-change backup wall time vs borg", 0.25, C("lockstep", "nochange"), C("borg", "nochange"), "lockstep", "borg"))
    T(target_row("backup after 1% churn, wall time vs restic", 0.3, C("lockstep", "churn"), C("restic", "churn"), "lockstep", "restic"))
    T(target_row("full restore wall time vs restic", 0.5, C("lockstep", "restore"), C("restic", "restore"), "lockstep", "restic"))
    T(target_row("full restore wall time vs `cp -a` (faster)", 1.0, C("lockstep", "restore"), C("cp", "restore"), "lockstep", "cp -a",
                 strict=True))
    T(target_row("repository size after the initial backup vs restic", 1.0, C("lockstep", "initial", "repo"),
                 C("restic", "initial", "repo"), "lockstep", "restic"))
    for phase in PHASES:
        T(target_row("peak RSS, %s, vs restic" % PHASE_LABEL[phase], 0.5, C("lockstep", phase, "rss"), C("restic", phase, "rss"),
                     "lockstep", "restic"))
    T(target_row("application backup after 1% churn: service down vs `tar cpzf`", 0.05, C("lockstep", "window"),
                 C(*tar_window), "lockstep", "tar cpzf"))
    T(target_row("application backup after 1% churn: service down vs the second rsync pass", 0.5, C("lockstep", "window"),
                 C("rsync", "window"), "lockstep", "rsync"))
    T(target_row("the same with `--fs-snapshot btrfs`: service down vs the second rsync pass", 0.1, C("lockstep", "fswindow"),
                 C("rsync", "window"), "lockstep --fs-snapshot btrfs", "rsync"))
    T(target_row("in-place restore after 1% drift vs a full restore (wall time)", 0.1, C("lockstep", "inplace"),
                 C("lockstep", "restore"), "lockstep in-place", "lockstep full restore"))
    w("")
    w("## Commands")
    w("")
    w("Exactly as run (run 1), in order; *untimed* lines prepare a measurement. `PW` is a password file (mode 0600); "
      "borg reads the same passphrase from `BORG_PASSPHRASE`, restic from `RESTIC_PASSWORD_FILE`. restic's cache "
      "(`RESTIC_CACHE_DIR`) and borg's (`BORG_BASE_DIR`) live in the work directory and start empty with each fresh "
      "repository.")
    w("")
    w("```sh")
    seen = set()
    for c in cmds:
        key = (c["tool"], c["phase"], c["command"])
        if key in seen:
            continue
        seen.add(key)
        w("# %s, %s" % (c["tool"], c["phase"]))
        w(c["command"])
    w("```")
    w("")
    w("## Raw measurements")
    w("")
    w("| run | tool | phase | status | wall s | user s | sys s | peak RSS KiB | repo bytes |")
    w("| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        st = r["status"] if r["status"] == "ok" else "%s: %s" % (r["status"], r["note"])
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (r["run"], r["tool"], r["phase"], st, r["wall_s"] or "",
                                                           r["user_s"] or "", r["sys_s"] or "", r["maxrss_kb"] or "",
                                                           r["repo_bytes"] or ""))
    w("")
    text = "\n".join(out)
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--commands")
    ap.add_argument("--info", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--out")
    ap.add_argument("--table-only", action="store_true", help="print only the results section on stdout")
    a = ap.parse_args()
    text = render(a)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    if a.table_only:
        start = text.index("## Results")
        end = text.index("## Commands")
        print(text[start:end].rstrip())
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
