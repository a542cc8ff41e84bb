#!/usr/bin/env python3
"""Fingerprint a directory tree, to check that a restore gave back the fixture.

    treesum.py DIR [--name BASENAME]

Prints one JSON object: counts (files, dirs, symlinks, bytes), a content
digest (relative paths, entry types, file contents, symlink targets) and a
metadata digest (permission bits and mtimes of files and symlinks; directory
mtimes are left out since tools legitimately differ there).

With --name, DIR is a restore target that may hold the tree under some
leading path (restic and borg keep the absolute source path, tar and cp the
last component): the fingerprint is taken of the one directory called
BASENAME below DIR, or of DIR itself when DIR directly holds the tree.
"""

import argparse
import hashlib
import json
import os
import stat
import sys


def find_root(target, name, marker_names):
    entries = set(os.listdir(target))
    if marker_names and marker_names <= entries:
        return target
    hits = []
    for dp, dn, _ in os.walk(target):
        if name in dn:
            hits.append(os.path.join(dp, name))
            dn.remove(name)
        if len(hits) > 1:
            break
    if len(hits) != 1:
        return None
    return hits[0]


def treesum(root):
    content = hashlib.sha256()
    meta = hashlib.sha256()
    counts = {"files": 0, "dirs": 0, "symlinks": 0, "bytes": 0}
    for dp, dn, fn in os.walk(root):
        dn.sort()
        rel_dp = os.path.relpath(dp, root)
        counts["dirs"] += 1
        content.update(b"D\0" + rel_dp.encode("utf-8", "surrogateescape") + b"\0")
        for name in sorted(fn + [d for d in dn if os.path.islink(os.path.join(dp, d))]):
            p = os.path.join(dp, name)
            rel = os.path.normpath(os.path.join(rel_dp, name)).encode("utf-8", "surrogateescape")
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                counts["symlinks"] += 1
                content.update(b"L\0" + rel + b"\0" + os.readlink(p).encode("utf-8", "surrogateescape") + b"\0")
                meta.update(b"L%s %d\n" % (rel, int(st.st_mtime)))
            elif stat.S_ISREG(st.st_mode):
                counts["files"] += 1
                counts["bytes"] += st.st_size
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                content.update(b"F\0" + rel + b"\0" + h.digest())
                meta.update(b"F%s %o %d\n" % (rel, stat.S_IMODE(st.st_mode), int(st.st_mtime)))
            else:
                content.update(b"O\0" + rel + b"\0")
        dmode = stat.S_IMODE(os.lstat(dp).st_mode)
        meta.update(b"D%s %o\n" % (rel_dp.encode("utf-8", "surrogateescape"), dmode))
    # symlinked directories showed up in dn; os.walk does not descend into them
    counts["content_sha256"] = content.hexdigest()
    counts["meta_sha256"] = meta.hexdigest()
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--name")
    ap.add_argument("--marker", action="append", default=[], help="top-level entry names of the tree")
    a = ap.parse_args()
    root = a.dir
    if a.name:
        root = find_root(a.dir, a.name, set(a.marker))
        if root is None:
            print(json.dumps({"error": "no single directory named %s under %s" % (a.name, a.dir)}))
            return 1
    out = treesum(root)
    out["root"] = root
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
