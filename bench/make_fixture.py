#!/usr/bin/env python3
"""Deterministic generator of a Posit-Connect-shaped data directory.

The tree looks roughly like /var/lib/rstudio-connect:

    apps/<appid>/<bundleid>/...          extracted bundles (latest two per app)
    bundles/app-<appid>-<bundleid>.tar.gz  every bundle, real gzip'd tar data
    R/<rversion>/packages/<libhash>/<pkg>/...            R package libraries
    python/env-<hash>/lib/python3.X/site-packages/...    Python environments
    reports/v2/<appid>/<variant>/<render>/index.html     rendered output
    logs/connect.log*, logs/access.log*, logs/jobs/...   text logs
    db/connect.db (SQLite), db/secret.key (0600)

Packages repeat across many environments (identical files) and appear in
several versions / builds (near-identical files), which is what a
deduplicating backup tool should exploit.  Content has realistic
compressibility: source and logs compress, tarballs / .rds / images do
not, shared objects sit in between.

Everything is derived from random.Random(seed) streams (plus SHAKE-256
expansion of seeds drawn from them for bulk random bytes), so the same
--scale and --seed always give the same bytes, modes and mtimes.

Usage:
    make_fixture.py --out DIR [--scale tiny|small|medium] [--seed N] [--reuse|--force]
    make_fixture.py --out DIR --churn PCT

A manifest is written next to the tree, as DIR.manifest.json (outside
the tree so it never ends up in a backup).  --reuse exits at once when
that manifest says DIR already holds a pristine fixture of the same
scale, seed and generator version.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import multiprocessing
import os
import shutil
import sqlite3
import stat
import struct
import sys
import tarfile
import time
import zlib

import random

GENERATOR_VERSION = 1
EPOCH = 1_717_200_000  # 2024-06-01T00:00:00Z: "now" of the fixture; all mtimes are before it
YEAR = 365 * 86400

SCALES = {
    # tiny is for smoke tests of the harness itself (~40 MB)
    "tiny": dict(r_envs=1, py_envs=1, r_pkgs=(25, 40), py_pkgs=(10, 20), apps=6,
                 logs_bytes=4_000_000, job_logs=40, report_apps=3, db_bytes=1_000_000,
                 py_big_cap=2_000_000),
    "small": dict(r_envs=5, py_envs=5, r_pkgs=(30, 100), py_pkgs=(8, 34), apps=34,
                  logs_bytes=36_000_000, job_logs=400, report_apps=12, db_bytes=6_000_000,
                  py_big_cap=5_000_000),
    "medium": dict(r_envs=24, py_envs=24, r_pkgs=(50, 150), py_pkgs=(12, 55), apps=300,
                   logs_bytes=330_000_000, job_logs=4000, report_apps=110, db_bytes=48_000_000,
                   py_big_cap=5_000_000),
}

R_VERSIONS = ["3.6.3", "4.0.5", "4.1.3", "4.2.3", "4.3.2"]
PY_VERSIONS = ["3.8", "3.9", "3.10", "3.11", "3.12"]
# Which interpreter the i-th environment uses.  A server has one or two current versions
# and a tail of old ones; most environments share the current one, which is where
# identical package files come from.
R_ENV_CYCLE = ["4.3.2", "4.3.2", "4.2.3", "4.3.2", "4.1.3", "4.2.3", "4.3.2", "4.0.5",
               "4.3.2", "4.2.3", "4.3.2", "3.6.3"]
PY_ENV_CYCLE = ["3.11", "3.11", "3.10", "3.11", "3.12", "3.10", "3.11", "3.9", "3.11", "3.8"]

R_NAMES = """Rcpp rlang cli glue vctrs lifecycle magrittr R6 jsonlite digest withr cpp11 fansi utf8
pillar tibble pkgconfig crayon ellipsis generics tidyselect dplyr purrr stringi stringr yaml
htmltools fastmap cachem memoise mime base64enc sass jquerylib bslib fontawesome httpuv later
promises shiny xfun knitr evaluate highr tinytex rmarkdown farver labeling munsell colorspace
RColorBrewer viridisLite scales gtable isoband ggplot2 tidyr readr vroom hms bit bit64 tzdb
lubridate timechange data.table DBI RSQLite blob dbplyr odbc pool curl openssl askpass sys
httr httr2 xml2 rvest selectr plotly htmlwidgets crosstalk lazyeval DT leaflet sf units e1071
classInt Matrix lattice MASS nlme mgcv survival boot plumber sodium webutils swagger arrow
assertthat config rsconnect renv packrat flexdashboard gt reactable commonmark sourcetools
xtable markdown zoo xts TTR quantmod forcats haven readxl cellranger rematch openxlsx zip
writexl broom backports stringdist igraph visNetwork future globals listenv parallelly
furrr progressr processx ps callr fs rprojroot here gargle googledrive bigrquery pins rappdirs
filelock checkmate feather fst qs""".split()

PY_NAMES = """numpy pandas requests urllib3 idna certifi charset_normalizer six python_dateutil pytz
tzdata flask werkzeug jinja2 markupsafe itsdangerous click blinker fastapi starlette pydantic
pydantic_core anyio sniffio uvicorn h11 typing_extensions streamlit altair pyarrow pillow
matplotlib kiwisolver cycler fonttools contourpy pyparsing packaging scipy scikit_learn joblib
threadpoolctl dash plotly tenacity bokeh tornado pyyaml sqlalchemy greenlet psycopg2 shiny
htmltools watchfiles websockets protobuf toml rich pygments markdown_it_py mdurl gitpython gitdb
smmap cachetools attrs jsonschema referencing rpds_py pyzmq ipykernel jupyter_core traitlets
nbformat nbconvert voila tqdm regex setuptools pip wheel httpx httpcore orjson ujson
python_multipart email_validator dnspython openpyxl et_xmlfile xlsxwriter seaborn statsmodels
patsy networkx sympy mpmath lxml beautifulsoup4 soupsieve boto3 botocore s3transfer jmespath
redis cryptography cffi pycparser bcrypt paramiko pynacl gunicorn itables great_tables""".split()

# Big, popular Python packages: (share of env count, .so bytes before cap, number of modules)
PY_HEAVY = {"numpy": (30_000_000, 140), "pandas": (22_000_000, 420), "pyarrow": (60_000_000, 180),
            "scipy": (45_000_000, 520), "scikit_learn": (25_000_000, 450), "matplotlib": (9_000_000, 160),
            "pillow": (8_000_000, 60), "pydantic_core": (5_000_000, 8), "lxml": (12_000_000, 40),
            "grpc": (10_000_000, 60), "orjson": (1_200_000, 3), "regex": (2_500_000, 6),
            "greenlet": (1_000_000, 8), "cryptography": (7_000_000, 110), "psycopg2": (3_000_000, 12),
            "pyzmq": (3_000_000, 40), "statsmodels": (12_000_000, 500), "kiwisolver": (400_000, 3),
            "contourpy": (900_000, 10), "fonttools": (6_000_000, 250), "sympy": (0, 900),
            "botocore": (0, 300), "protobuf": (2_000_000, 90)}

APP_MODES = ["shiny", "shiny", "shiny", "rmd-static", "quarto-static", "api", "python-dash",
             "python-streamlit", "python-fastapi", "jupyter-static", "rmd-shiny", "python-shiny"]
REPORT_MODES = {"rmd-static", "quarto-static", "jupyter-static"}

SEED = 1
SCALE = "small"

# ---------------------------------------------------------------------------
# deterministic randomness


def rng_for(*parts) -> random.Random:
    return random.Random(":".join(str(p) for p in (SEED,) + parts))


def rbytes(rng: random.Random, n: int) -> bytes:
    """n incompressible bytes, deterministic in rng (SHAKE-256 of a drawn seed)."""
    if n <= 0:
        return b""
    return hashlib.shake_256(rng.getrandbits(256).to_bytes(32, "little")).digest(n)


def lognorm(rng, median, sigma, lo, hi):
    return int(min(hi, max(lo, median * math.exp(rng.gauss(0.0, sigma)))))


def ts(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def hexid(rng, n=12):
    return "%0*x" % (n, rng.getrandbits(4 * n))


def weighted_sample(rng, items, weights, k):
    """k distinct items, probability proportional to weight (Efraimidis-Spirakis)."""
    keyed = sorted(((rng.random() ** (1.0 / w), i) for i, w in enumerate(weights)), reverse=True)
    return [items[i] for _, i in keyed[:k]]


# ---------------------------------------------------------------------------
# text: token soups whose compressibility resembles the real thing


class Lexicon:
    def __init__(self):
        r = random.Random("%s:lexicon" % SEED)
        syl = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiouy"] + \
              ["th", "ch", "st", "qu", "ex", "in", "or", "an", "er", "ing", "tion", "al"]
        words = set()
        while len(words) < 6000:
            words.add("".join(r.choices(syl, k=r.choice((1, 2, 2, 2, 3, 3, 4)))))
        words = sorted(words)
        r.shuffle(words)
        self.words = words
        self.wlist = []  # Zipf-ish weighting through repetition
        for i, w in enumerate(words):
            self.wlist += [w] * max(1, int(300 / (i + 1) ** 0.95))
        idents = []
        for i in range(4000):
            a, b = r.choice(words[:1500]), r.choice(words)
            idents.append(r.choice((a, a + "_" + b, a + b.capitalize(), "." + a, a + "_" + b + "_" + r.choice(words[:300]))))
        self.idents = idents
        self.ilist = []
        for i, w in enumerate(idents):
            self.ilist += [w] * max(1, int(120 / (i + 1) ** 0.9))
        self.people = ["%s %s" % (r.choice(words[:800]).capitalize(), r.choice(words).capitalize()) for _ in range(400)]

        def tokens(base, extra):
            out = list(base)
            for tok, weight in extra:
                out += [tok] * weight
            return out

        idw = [w for w in self.ilist]
        self.r_tokens = tokens(idw, [
            (" <- ", 120), ("(", 150), (")", 150), (", ", 200), (" {\n  ", 40), ("\n}\n\n", 25),
            ("\n  ", 160), ("\n    ", 90), ("\n", 120), ("function(", 40), ("if (", 40),
            ("} else {\n    ", 15), ("return(", 30), ("NULL", 30), ("TRUE", 30), ("FALSE", 25),
            ('"', 80), ("$", 60), ("[[", 20), ("]]", 20), (" == ", 25), (" + ", 30),
            (" %>%\n    ", 25), ("#' ", 50), ("# ", 30), ("1", 25), ("0", 20), ("2L", 10),
            ("0.5", 8), ("stop(", 10), ("paste0(", 15), ("length(", 20), ("is.null(", 15),
            ("vapply(", 8), ("lapply(", 10), ("@param ", 20), ("@export\n", 10), (" = ", 60)])
        self.py_tokens = tokens(idw, [
            (" = ", 150), ("(", 150), (")", 150), (", ", 200), (":\n        ", 40), ("\n\n\n", 15),
            ("\n    ", 160), ("\n        ", 110), ("\n", 100), ("def ", 45), ("self", 90), ("self.", 90),
            ("if ", 40), ("else:\n        ", 15), ("return ", 40), ("None", 40), ("True", 25),
            ("False", 25), ('"', 70), ("'", 40), (".", 80), ("[", 25), ("]", 25), (" == ", 25),
            (" is not None", 12), ("# ", 30), ('"""', 20), ("0", 20), ("1", 25), ("class ", 8),
            ("import ", 15), ("from ", 10), (" in ", 25), ("for ", 20), ("raise ", 8),
            ("isinstance(", 10), ("len(", 15), ("kwargs", 15), ("**kwargs", 8), (" -> ", 15)])
        self.js_tokens = tokens(idw, [
            ("(", 150), (")", 150), (",", 200), ("{", 60), ("}", 60), (";", 120), ("function(", 50),
            ("return ", 50), ("var ", 40), ("this.", 60), (".", 120), ("=", 90), ("==", 20), ("===", 20),
            ("!0", 10), ("!1", 10), ('"', 60), ("void 0", 8), ("null", 20), ("&&", 25), ("||", 25),
            ("?", 20), (":", 40), ("e", 60), ("t", 60), ("n", 50), ("r", 40), ("i", 40), ("a", 30),
            ("prototype", 15), ("length", 20), ("\n", 6)])
        self.prose_tokens = tokens(self.wlist, [
            (" ", 2600), (", ", 250), (". ", 260), (".\n", 60), ("\n\n", 25), ("the ", 300),
            ("a ", 150), ("of ", 200), ("and ", 180), ("to ", 170), ("is ", 90), ("for ", 80),
            ("with ", 60), ("data ", 50), ("function ", 40), ("package ", 30), ("(", 20), (")", 20)])
        self.html_tokens = tokens(self.wlist, [
            (" ", 2200), ("<p>", 80), ("</p>\n", 80), ("<td>", 200), ("</td>", 200), ("<tr>\n", 50),
            ("</tr>\n", 50), ('<span class="', 60), ('">', 140), ("</span>", 60), ("<div class=\"", 40),
            ("</div>\n", 40), ("<a href=\"#", 20), ("</a>", 20), ("<li>", 30), ("</li>\n", 30),
            ("<code>", 20), ("</code>", 20), ("&nbsp;", 10), (". ", 150), (", ", 120)])
        self.digits = [str(i) for i in range(1000)] + ["%d.%02d" % (i, i * 7 % 100) for i in range(500)]


LEX: Lexicon | None = None


def lex() -> Lexicon:
    global LEX
    if LEX is None:
        LEX = Lexicon()
    return LEX


def soup(rng, n, tokens, numbers=0.0) -> bytes:
    """About n bytes of text drawn from a weighted token list."""
    if n <= 0:
        return b""
    k = max(1, n // 5)
    toks = rng.choices(tokens, k=k)
    if numbers:
        L = lex()
        for _ in range(int(k * numbers)):
            toks[rng.randrange(k)] = rng.choice(L.digits)
    out = "".join(toks).encode()
    while len(out) < n:
        out += "".join(rng.choices(tokens, k=max(8, (n - len(out)) // 4))).encode()
    return out[:n]


def code_r(rng, n):
    return soup(rng, n, lex().r_tokens, 0.02)


def code_py(rng, n):
    return soup(rng, n, lex().py_tokens, 0.02)


def code_js(rng, n):
    return soup(rng, n, lex().js_tokens, 0.03)


def prose(rng, n):
    return soup(rng, n, lex().prose_tokens)


def html_text(rng, n):
    return soup(rng, n, lex().html_tokens, 0.04)


def csv_text(rng, n):
    cols = rng.randrange(3, 12)
    L = lex()
    head = ",".join(rng.choice(L.words) for _ in range(cols)) + "\n"
    kinds = [rng.choice("ifcd") for _ in range(cols)]
    cats = [rng.sample(L.words[:400], 6) for _ in range(cols)]
    rows = [head]
    size = len(head)
    day0 = EPOCH - rng.randrange(3 * YEAR)
    i = 0
    while size < n:
        vals = []
        for c, kd in enumerate(kinds):
            if kd == "i":
                vals.append(str(rng.randrange(10000)))
            elif kd == "f":
                vals.append("%.4f" % rng.gauss(50, 20))
            elif kd == "c":
                vals.append(cats[c][rng.randrange(6)])
            else:
                vals.append(time.strftime("%Y-%m-%d", time.gmtime(day0 + i * 86400)))
        line = ",".join(vals) + "\n"
        rows.append(line)
        size += len(line)
        i += 1
    return "".join(rows).encode()[:n]


_LOW_TABLE = bytes((0x00, 0x48, 0x89, 0x8b, 0xe8, 0xc3, 0x0f, 0x85, 0x84, 0x31, 0xff, 0x41, 0x83, 0x4c,
                    0x24, 0x08, 0x10, 0x01, 0x74, 0x75, 0xeb, 0x5d, 0x55, 0x53, 0x5b, 0xc7, 0x44, 0x8d,
                    0x39, 0x3d, 0x45, 0x20)[i % 32] if i % 4 else 0x00 for i in range(256))


def lowent(rng, n):
    """Machine-code-like bytes: skewed alphabet, compresses roughly 1.5-2x."""
    return rbytes(rng, n).translate(_LOW_TABLE)


def so_like(rng, n):
    """An ELF-shared-object-like blob: code, rodata strings, data, symbols, padding."""
    L = lex()
    parts = [b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + struct.pack("<HHIQQQ", 3, 62, 1, 0x1000, 64, n)]
    text = int(n * 0.42)
    parts.append(lowent(rng, text))
    strs = "\0".join(rng.choices(L.idents, k=max(4, int(n * 0.14) // 12))).encode()[: int(n * 0.14)]
    parts.append(strs)
    parts.append(rbytes(rng, int(n * 0.18)))
    syms = b"".join(struct.pack("<IBBHQQ", rng.randrange(1 << 16), 0x12, 0, rng.randrange(30),
                                0x1000 + 16 * rng.randrange(1 << 16), rng.randrange(4096))
                    for _ in range(int(n * 0.12) // 24))
    parts.append(syms)
    out = b"".join(parts)
    out += b"\x00" * max(0, n - len(out))
    return out[:n]


def pyc_like(rng, n, pyver):
    L = lex()
    magic = {"3.8": 3413, "3.9": 3425, "3.10": 3439, "3.11": 3495, "3.12": 3531}[pyver]
    head = struct.pack("<HHIII", magic, 0x0a0d, 0, EPOCH - YEAR, n)
    body = []
    size = 0
    while size < n:
        chunk = lowent(rng, rng.randrange(40, 400))
        s = ("\xda" + rng.choice(L.idents)).encode("latin-1", "replace")
        body += [chunk, s]
        size += len(chunk) + len(s)
    return (head + b"".join(body))[:n]


def gz_like(rng, n):
    """Payload of an already-compressed format (.rds, .rdb, .png, .parquet...)."""
    return rbytes(rng, n)


def mutate(rng, data: bytes, edits: int, filler, maxlen=2048) -> bytes:
    """Near-identical copy: a few replacements / insertions / deletions."""
    if not data:
        return filler(rng, 64)
    b = bytearray(data)
    positions = sorted((rng.randrange(len(b) + 1) for _ in range(edits)), reverse=True)
    for p in positions:
        op = rng.random()
        ln = rng.randrange(1, maxlen)
        if op < 0.5:
            b[p:p + ln] = filler(rng, ln)
        elif op < 0.8:
            b[p:p] = filler(rng, ln)
        else:
            del b[p:p + ln]
    return bytes(b)


# ---------------------------------------------------------------------------
# writing files


class Writer:
    def __init__(self, root):
        self.root = root
        self.dirs = set()
        self.files = 0
        self.bytes = 0

    def _parent(self, path):
        d = os.path.dirname(path)
        if d not in self.dirs:
            os.makedirs(d, exist_ok=True)
            self.dirs.add(d)

    def file(self, rel, data: bytes, mode=0o644, mtime=EPOCH):
        path = os.path.join(self.root, rel)
        self._parent(path)
        with open(path, "wb") as f:
            f.write(data)
        if mode != 0o644:
            os.chmod(path, mode)
        os.utime(path, (mtime, mtime))
        self.files += 1
        self.bytes += len(data)

    def append(self, rel, data: bytes, mtime):
        path = os.path.join(self.root, rel)
        self._parent(path)
        with open(path, "ab") as f:
            f.write(data)
        os.utime(path, (mtime, mtime))
        self.bytes += len(data)

    def symlink(self, rel, target, mtime=EPOCH):
        path = os.path.join(self.root, rel)
        self._parent(path)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)
        os.utime(path, (mtime, mtime), follow_symlinks=False)

    def mkdir(self, rel, mode=0o755):
        path = os.path.join(self.root, rel)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)


# ---------------------------------------------------------------------------
# R packages


class RPkg:
    def __init__(self, name, rank):
        r = rng_for("rpkg", name)
        self.name = name
        self.weight = 1.0 / (rank + 1) ** 0.75
        nver = r.choice((1, 1, 2, 2, 3, 4))
        major = r.randrange(0, 4)
        minor = r.randrange(0, 12)
        self.versions = ["%d.%d.%d" % (major, minor + i // 2, (r.randrange(5) + i) % 6) for i in range(nver)]
        self.has_so = r.random() < 0.3
        self.so_size = lognorm(r, 150_000, 1.1, 20_000, 5_000_000)
        self.code_size = lognorm(r, 35_000, 1.0, 4_000, 1_500_000)
        self.help_topics = lognorm(r, 25, 0.9, 2, 400)
        self.has_doc = r.random() < 0.3
        self.has_data = r.random() < 0.12
        self.has_tests = r.random() < 0.2
        self.has_include = r.random() < 0.07
        self.has_widgets = r.random() < 0.05
        self.license = r.choice(("MIT + file LICENSE", "GPL-2", "GPL-3", "MIT + file LICENSE", "Apache License 2.0"))


_R_CSS = None
_R_LOADER = None


def r_static():
    global _R_CSS, _R_LOADER
    if _R_CSS is None:
        _R_CSS = (b"@media screen {\n  .container { padding-left: 1em; }\n}\n" + soup(rng_for("R.css"), 1900, lex().js_tokens))
        _R_LOADER = (b"#  File share/R/nspackloader.R\n#  Part of the R package, https://www.R-project.org\n"
                     b"local({\n    info <- loadingNamespaceInfo()\n    pkg <- info$pkgname\n"
                     b"    ns <- .getNamespace(as.name(pkg))\n    if (is.null(ns))\n"
                     b"        stop(\"cannot find namespace environment for \", pkg, domain = NA);\n"
                     b"    dbbase <- file.path(info$libname, pkg, \"R\", pkg)\n"
                     b"    lazyLoad(dbbase, ns, filter = function(n) n != \".__NAMESPACE__.\")\n})\n")
    return _R_CSS, _R_LOADER


_r_base_cache: dict = {}
_r_build_cache: dict = {}


def r_pkg_base(p: RPkg, vi: int):
    """Files of one package version, independent of the R build (dict rel -> (bytes, mode, compressible))."""
    key = (p.name, vi)
    if key in _r_base_cache:
        return _r_base_cache[key]
    if vi > 0:
        prev = r_pkg_base(p, vi - 1)
        r = rng_for("rpkg", p.name, "v", vi)
        files = {}
        for rel, (data, mode, comp) in prev.items():
            if rel.endswith((".rdb", ".rdx", ".rds")) or r.random() < 0.35:
                filler = gz_like if not comp else (code_r if rel.endswith(".R") else prose)
                edits = max(1, len(data) // 40_000)
                data = mutate(r, data, min(edits, 12), filler)
            files[rel] = (data, mode, comp)
        if r.random() < 0.3:
            files["%s/help/figures/lifecycle-%s.svg" % (p.name, r.choice(lex().words))] = (html_text(r, r.randrange(800, 4000)), 0o644, True)
        _r_base_cache[key] = files
        return files
    r = rng_for("rpkg", p.name, "base")
    L = lex()
    n = p.name
    files = {}
    css, loader = r_static()
    exports = r.sample(L.idents, min(len(L.idents), p.help_topics * 2))
    files[n + "/NAMESPACE"] = ("# Generated by roxygen2: do not edit by hand\n\n".encode() + "".join(
        "export(%s)\n" % e for e in exports).encode() + b"importFrom(rlang,.data)\n", 0o644, True)
    files[n + "/R/" + n] = (loader, 0o644, True)
    files[n + "/R/%s.rdb" % n] = (gz_like(r, p.code_size), 0o644, False)
    files[n + "/R/%s.rdx" % n] = (gz_like(r, 200 + p.code_size // 60), 0o644, False)
    for m in ("nsInfo", "hsearch", "links", "Rd", "features"):
        files["%s/Meta/%s.rds" % (n, m)] = (gz_like(r, r.randrange(150, 300 + p.help_topics * 40)), 0o644, False)
    files[n + "/help/AnIndex"] = ("".join("%s\t%s\n" % (e, e) for e in exports[: p.help_topics]).encode(), 0o644, True)
    files[n + "/help/aliases.rds"] = (gz_like(r, 100 + p.help_topics * 12), 0o644, False)
    files[n + "/help/paths.rds"] = (gz_like(r, 80 + p.help_topics * 9), 0o644, False)
    files["%s/help/%s.rdb" % (n, n)] = (gz_like(r, p.help_topics * lognorm(r, 1200, 0.4, 300, 10000)), 0o644, False)
    files["%s/help/%s.rdx" % (n, n)] = (gz_like(r, 100 + p.help_topics * 20), 0o644, False)
    files[n + "/html/00Index.html"] = (b"<!DOCTYPE html>\n<html><head><title>R: " + n.encode() + b"</title>\n"
                                       b'<link rel="stylesheet" type="text/css" href="R.css" />\n</head><body>\n'
                                       + html_text(r, 300 + p.help_topics * 90) + b"\n</body></html>\n", 0o644, True)
    files[n + "/html/R.css"] = (css, 0o644, True)
    files[n + "/INDEX"] = ("".join("%-24s %s\n" % (e, " ".join(r.choices(L.words, k=5))) for e in exports[: p.help_topics]).encode(), 0o644, True)
    files[n + "/NEWS.md"] = (prose(r, lognorm(r, 5000, 1.0, 400, 120_000)), 0o644, True)
    if p.license.startswith("MIT"):
        files[n + "/LICENSE"] = (("YEAR: %d\nCOPYRIGHT HOLDER: %s\n" % (r.randrange(2012, 2024), r.choice(L.people))).encode(), 0o644, True)
    if p.has_doc:
        files[n + "/doc/index.html"] = (html_text(r, r.randrange(1500, 5000)), 0o644, True)
        for _ in range(r.randrange(1, 5)):
            v = r.choice(L.words)
            files["%s/doc/%s.Rmd" % (n, v)] = (prose(r, r.randrange(2000, 12000)) + b"\n```{r}\n" + code_r(r, r.randrange(500, 6000)) + b"\n```\n", 0o644, True)
            files["%s/doc/%s.R" % (n, v)] = (code_r(r, r.randrange(500, 8000)), 0o644, True)
            img = base64_block(r, r.randrange(10_000, 100_000))
            files["%s/doc/%s.html" % (n, v)] = (html_text(r, r.randrange(5000, 25000)) + img + html_text(r, 3000), 0o644, True)
    if p.has_data:
        sz = lognorm(r, 150_000, 1.2, 10_000, 4_000_000)
        files[n + "/data/Rdata.rdb"] = (gz_like(r, sz), 0o644, False)
        files[n + "/data/Rdata.rds"] = (gz_like(r, r.randrange(100, 900)), 0o644, False)
        files[n + "/data/Rdata.rdx"] = (gz_like(r, r.randrange(200, 2000)), 0o644, False)
    if p.has_tests:
        files[n + "/tests/testthat.R"] = (b"library(testthat)\nlibrary(" + n.encode() + b")\n\ntest_check(\"" + n.encode() + b"\")\n", 0o644, True)
        for _ in range(r.randrange(2, 25)):
            files["%s/tests/testthat/test-%s.R" % (n, r.choice(L.words))] = (code_r(r, lognorm(r, 3000, 0.8, 200, 40000)), 0o644, True)
    if p.has_include:
        for _ in range(r.randrange(5, 60)):
            files["%s/include/%s/%s.h" % (n, n, r.choice(L.words))] = (code_js(r, lognorm(r, 4000, 1.0, 300, 80_000)), 0o644, True)
    if p.has_widgets:
        lib = r.choice(L.words)
        files["%s/htmlwidgets/lib/%s/%s.min.js" % (n, lib, lib)] = (code_js(r, lognorm(r, 150_000, 0.8, 20_000, 1_500_000)), 0o644, True)
        files["%s/htmlwidgets/%s.js" % (n, n)] = (code_js(r, r.randrange(2000, 20000)), 0o644, True)
        files["%s/htmlwidgets/%s.yaml" % (n, n)] = (prose(r, 300), 0o644, True)
    _r_base_cache[key] = files
    return files


def r_pkg_build(p: RPkg, vi: int, rver: str):
    """The installed package for one R version: near-identical to other builds of the same version."""
    key = (p.name, vi, rver)
    if key in _r_build_cache:
        return _r_build_cache[key]
    base = r_pkg_base(p, vi)
    r = rng_for("rpkg", p.name, "v", vi, "R", rver)
    files = []
    L = lex()
    for rel, (data, mode, comp) in sorted(base.items()):
        if rel.endswith(".rdb") or rel.endswith("Meta/nsInfo.rds"):
            data = mutate(r, data, 1 + len(data) // 400_000, gz_like)  # re-serialised objects
        files.append((rel, data, mode, comp))
    ver = p.versions[vi]
    built = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(EPOCH - r.randrange(2 * YEAR)))
    desc = ("Package: %s\nType: Package\nTitle: %s\nVersion: %s\nAuthors@R: person(\"%s\", role = c(\"aut\", \"cre\"))\n"
            "Description: %s\nLicense: %s\nEncoding: UTF-8\nLazyData: true\nRoxygenNote: 7.2.3\n"
            "Imports: %s\nNeedsCompilation: %s\nPackaged: %s\nRepository: CRAN\n"
            "Date/Publication: %s\nBuilt: R %s; %s; %s; unix\n" % (
                p.name, " ".join(r.choices(L.words[:2000], k=6)).capitalize(), ver, rng_for("rpkg", p.name).choice(L.people),
                prose(rng_for("rpkg", p.name, "desc"), 400).decode().replace("\n", " "), p.license,
                ", ".join(rng_for("rpkg", p.name, "imp").sample(R_NAMES[:60], 4)), "yes" if p.has_so else "no",
                built, built, rver, "x86_64-pc-linux-gnu" if p.has_so else "", built))
    files.append((p.name + "/DESCRIPTION", desc.encode(), 0o644, True))
    files.append((p.name + "/Meta/package.rds", gz_like(r, 900 + len(desc) // 3), 0o644, False))
    if p.has_so:
        sob = rng_for("rpkg", p.name, "v", vi, "so")
        so = so_like(sob, p.so_size)
        so = mutate(r, so, 2 + p.so_size // 300_000, lowent, 4096)  # built against another R ABI
        files.append(("%s/libs/%s.so" % (p.name, p.name.replace(".", "_")), so, 0o755, True))
    _r_build_cache[key] = files
    return files


def base64_block(rng, n):
    import base64
    raw = rbytes(rng, n * 3 // 4)
    return b'<img src="data:image/png;base64,' + base64.b64encode(raw) + b'" />\n'


def r_universe():
    return [RPkg(n, i) for i, n in enumerate(R_NAMES)]


def gen_r_env(w: Writer, idx: int):
    sc = SCALES[SCALE]
    r = rng_for("renv", idx)
    pkgs = r_universe()
    rver = R_ENV_CYCLE[idx % len(R_ENV_CYCLE)]
    lib = hexid(r, 32)
    k = r.randrange(*sc["r_pkgs"])
    chosen = weighted_sample(r, pkgs, [p.weight for p in pkgs], min(k, len(pkgs)))
    mt = EPOCH - r.randrange(2 * YEAR)
    root = "R/%s/packages/%s" % (rver, lib)
    for p in sorted(chosen, key=lambda p: p.name):
        vi = len(p.versions) - 1 if r.random() < 0.65 else r.randrange(len(p.versions))
        for rel, data, mode, _ in r_pkg_build(p, vi, rver):
            w.file("%s/%s" % (root, rel), data, mode, mt - r.randrange(3600))
    w.file(root + "/.connect-lib.json", json.dumps({"r_version": rver, "packages": sorted(p.name for p in chosen)},
                                                    indent=2).encode(), 0o644, mt)


# ---------------------------------------------------------------------------
# Python packages


class PyPkg:
    def __init__(self, name, rank, sc):
        r = rng_for("pypkg", name)
        self.name = name
        self.weight = 1.0 / (rank + 1) ** 0.7
        nver = r.choice((1, 2, 2, 3, 3, 4))
        major = r.randrange(0, 3)
        minor = r.randrange(0, 30)
        self.versions = ["%d.%d.%d" % (major, minor + i, r.randrange(4)) for i in range(nver)]
        heavy = PY_HEAVY.get(name)
        if heavy:
            self.so_total = min(heavy[0], sc["py_big_cap"])
            self.modules = max(3, heavy[1] // 2)
        else:
            self.so_total = lognorm(r, 200_000, 1.0, 30_000, 3_000_000) if r.random() < 0.18 else 0
            self.modules = lognorm(r, 9, 1.0, 1, 300)
        self.mod_size = lognorm(r, 4000, 0.6, 800, 30000)


_py_base_cache: dict = {}
_py_build_cache: dict = {}


def py_pkg_base(p: PyPkg, vi: int):
    key = (p.name, vi)
    if key in _py_base_cache:
        return _py_base_cache[key]
    if vi > 0:
        prev = py_pkg_base(p, vi - 1)
        r = rng_for("pypkg", p.name, "v", vi)
        mods = {}
        for rel, data in prev["mods"].items():
            if r.random() < 0.3:
                data = mutate(r, data, 1 + len(data) // 20000, code_py, 600)
            mods[rel] = data
        for _ in range(r.randrange(0, 3)):
            mods["%s/%s.py" % (p.name, r.choice(lex().words))] = code_py(r, lognorm(r, p.mod_size, 0.8, 200, 150_000))
        res = {"mods": mods, "data": prev["data"]}
        _py_base_cache[key] = res
        return res
    r = rng_for("pypkg", p.name, "base")
    L = lex()
    mods = {p.name + "/__init__.py": code_py(r, r.randrange(100, 3000))}
    subs = [""] + ["%s/" % r.choice(L.words) for _ in range(p.modules // 25)]
    for _ in range(p.modules):
        sub = r.choice(subs)
        mods["%s/%s%s.py" % (p.name, sub, r.choice(L.words))] = code_py(r, lognorm(r, p.mod_size, 0.8, 100, 200_000))
    for sub in subs[1:]:
        mods["%s/%s__init__.py" % (p.name, sub)] = code_py(r, r.randrange(0, 800))
    data = {}
    if r.random() < 0.25:
        data[p.name + "/py.typed"] = b""
    if r.random() < 0.15:
        for _ in range(r.randrange(1, 8)):
            data["%s/data/%s.json" % (p.name, r.choice(L.words))] = prose(r, lognorm(r, 6000, 1.0, 200, 400_000))
    res = {"mods": mods, "data": data}
    _py_base_cache[key] = res
    return res


def py_pkg_build(p: PyPkg, vi: int, pyver: str):
    key = (p.name, vi, pyver)
    if key in _py_build_cache:
        return _py_build_cache[key]
    base = py_pkg_base(p, vi)
    tag = "cpython-%s" % pyver.replace(".", "")
    files = []
    r = rng_for("pypkg", p.name, "v", vi, "py", pyver)
    record = []
    for rel, data in sorted(base["mods"].items()):
        files.append((rel, data, 0o644, True))
        d, fn = os.path.split(rel)
        pr = rng_for("pyc", p.name, vi, rel)  # same bytecode skeleton for every Python version...
        pyc = pyc_like(pr, max(200, int(len(data) * 0.7)), pyver)
        pyc = mutate(r, pyc, 1 + len(pyc) // 6000, lowent, 200)  # ...but each version compiles differently
        files.append(("%s/__pycache__/%s.%s.pyc" % (d, fn[:-3], tag), pyc, 0o644, True))
    for rel, data in sorted(base["data"].items()):
        files.append((rel, data, 0o644, True))
    if p.so_total:
        sr = rng_for("pypkg", p.name, "v", vi, "so")
        left = p.so_total
        i = 0
        while left > 0:
            sz = min(left, lognorm(sr, max(50_000, p.so_total // 4), 1.0, 20_000, p.so_total))
            blob = so_like(rng_for("pypkg", p.name, "v", vi, "so", i), sz)
            blob = mutate(r, blob, 2 + sz // 400_000, lowent, 4096)
            if p.name in ("numpy", "scipy", "pyarrow", "scikit_learn") and i == 0:
                rel = "%s.libs/lib%s-%s.so.0" % (p.name, sr.choice(("openblas64_p", "gfortran", "arrow", "quadmath")), hexid(sr, 8))
            else:
                rel = "%s/%s_%s.%s-x86_64-linux-gnu.so" % (p.name, "_" if i % 2 else "", sr.choice(lex().words), tag)
            files.append((rel, blob, 0o755, True))
            left -= sz
            i += 1
    ver = p.versions[vi]
    di = "%s-%s.dist-info" % (p.name, ver)
    meta = ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\nHome-page: https://example.org/%s\n"
            "Author: %s\nLicense: %s\nRequires-Python: >=3.8\n\n%s\n" % (
                p.name.replace("_", "-"), ver, prose(rng_for("pypkg", p.name, "sum"), 80).decode().replace("\n", " "),
                p.name, rng_for("pypkg", p.name).choice(lex().people), rng_for("pypkg", p.name).choice(("MIT", "BSD-3-Clause", "Apache-2.0")),
                prose(rng_for("pypkg", p.name, "readme"), lognorm(rng_for("pypkg", p.name, "rl"), 5000, 0.8, 500, 60000)).decode()))
    for rel, data, _, _ in files:
        record.append("%s,sha256=%s,%d" % (rel, hashlib.sha256(data).hexdigest()[:43], len(data)))
    files.append((di + "/METADATA", meta.encode(), 0o644, True))
    files.append((di + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: bdist_wheel (0.41.2)\nRoot-Is-Purelib: %s\nTag: %s\n" % (
        "false" if p.so_total else "true", ("cp%s-cp%s-manylinux_2_17_x86_64" % ((pyver.replace(".", ""),) * 2)) if p.so_total else "py3-none-any")).encode(), 0o644, True))
    files.append((di + "/INSTALLER", b"pip\n", 0o644, True))
    files.append((di + "/top_level.txt", (p.name + "\n").encode(), 0o644, True))
    files.append((di + "/RECORD", ("\n".join(record) + "\n").encode(), 0o644, True))
    _py_build_cache[key] = files
    return files


def py_universe(sc):
    return [PyPkg(n, i, sc) for i, n in enumerate(PY_NAMES)]


def gen_py_env(w: Writer, idx: int):
    sc = SCALES[SCALE]
    r = rng_for("pyenv", idx)
    pkgs = py_universe(sc)
    pyver = PY_ENV_CYCLE[idx % len(PY_ENV_CYCLE)]
    env = "python/env-%s" % hexid(r, 16)
    k = r.randrange(*sc["py_pkgs"])
    base = [p for p in pkgs if p.name in ("pip", "setuptools", "wheel")]
    others = [p for p in pkgs if p not in base]
    chosen = base + weighted_sample(r, others, [p.weight for p in others], min(k, len(others)))
    mt = EPOCH - r.randrange(2 * YEAR)
    sp = "%s/lib/python%s/site-packages" % (env, pyver)
    for p in sorted(chosen, key=lambda p: p.name):
        vi = len(p.versions) - 1 if r.random() < 0.65 else r.randrange(len(p.versions))
        for rel, data, mode, _ in py_pkg_build(p, vi, pyver):
            w.file("%s/%s" % (sp, rel), data, mode, mt - r.randrange(3600))
    w.file(env + "/pyvenv.cfg", ("home = /opt/python/%s/bin\ninclude-system-site-packages = false\nversion = %s.%d\n" % (
        pyver, pyver, r.randrange(2, 14))).encode(), 0o644, mt)
    activate = (b"# This file must be used with \"source bin/activate\" *from bash*\n"
                b"deactivate () {\n    unset -f pydoc >/dev/null 2>&1 || true\n}\n"
                b"VIRTUAL_ENV=\"/var/lib/rstudio-connect/" + env.encode() + b"\"\nexport VIRTUAL_ENV\n"
                b"PATH=\"$VIRTUAL_ENV/bin:$PATH\"\nexport PATH\n")
    w.file(env + "/bin/activate", activate, 0o644, mt)
    for tool in ("pip", "pip3"):
        w.file("%s/bin/%s" % (env, tool), ("#!/var/lib/rstudio-connect/%s/bin/python\nimport sys\nfrom pip._internal.cli.main import main\n"
                                           "if __name__ == '__main__':\n    sys.exit(main())\n" % env).encode(), 0o755, mt)
    w.symlink(env + "/bin/python3", "/opt/python/%s/bin/python3" % pyver, mt)
    w.symlink(env + "/bin/python", "python3", mt)
    w.symlink(env + "/bin/python" + pyver, "python3", mt)
    w.symlink(env + "/lib64", "lib", mt)


# ---------------------------------------------------------------------------
# apps, bundles (tar.gz) and reports


def write_targz(path, members, mtime):
    """members: list of (relpath, data, mode, compressible). Real gzip'd tar (deflate level 1,
    like `gzip -1`): binary members come out as deflate's stored/huffman blocks at positions
    that shift between versions, so identical members do not survive verbatim from one
    tarball to the next, as with real tools.  Returns the size written."""
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: gzip wrapper, mtime 0, deterministic
    with open(path, "wb") as fh:
        total = 0
        seen = set()

        def put(b):
            fh.write(comp.compress(b))

        for rel, data, mode, _comp in members:
            parts = rel.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in seen:
                    seen.add(d)
                    ti = tarfile.TarInfo(d + "/")
                    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, mtime
                    hdr = ti.tobuf(tarfile.GNU_FORMAT)
                    put(hdr)
                    total += len(hdr)
            ti = tarfile.TarInfo(rel)
            ti.size, ti.mode, ti.mtime = len(data), mode, mtime
            hdr = ti.tobuf(tarfile.GNU_FORMAT)
            pad = -len(data) % 512
            put(hdr)
            put(data)
            put(b"\0" * pad)
            total += len(hdr) + len(data) + pad
        put(b"\0" * (1024 + (-(total + 1024) % 10240)))
        fh.write(comp.flush())
    os.utime(path, (mtime, mtime))
    return os.path.getsize(path)


class App:
    def __init__(self, appid):
        r = rng_for("app", appid)
        self.id = appid
        self.guid = "%08x-%04x-%04x-%04x-%012x" % (r.getrandbits(32), r.getrandbits(16), r.getrandbits(16), r.getrandbits(16), r.getrandbits(48))
        self.mode = r.choice(APP_MODES)
        self.python = self.mode.startswith("python") or self.mode == "jupyter-static"
        self.nbundles = min(12, 1 + int(r.expovariate(0.45)))
        self.size = lognorm(r, 350_000, 1.5, 15_000, 60_000_000)  # unpacked bundle bytes
        self.name = "-".join(r.choices(lex().words[:1500], k=r.randrange(1, 4)))
        self.created = EPOCH - r.randrange(3 * YEAR)
        self.variants = [r.randrange(1, 10**5) for _ in range(r.randrange(1, 4))]


_app_cache: dict = {}


def app_bundle(app: App, k: int):
    """Files of the k-th bundle (version) of app: each version is a small edit of the previous one."""
    key = (app.id, k)
    if key in _app_cache:
        return _app_cache[key]
    if k > 0:
        prev = app_bundle(app, k - 1)
        r = rng_for("app", app.id, "bundle", k)
        files = dict(prev)
        texts = sorted(rel for rel, (_, _, c) in prev.items() if c and not rel.endswith(".json"))
        for rel in r.sample(texts, min(len(texts), r.randrange(1, 4))):
            data, mode, comp = files[rel]
            filler = code_py if rel.endswith(".py") else code_r if rel.endswith((".R", ".Rmd", ".qmd")) else prose
            files[rel] = (mutate(r, data, r.randrange(1, 4), filler, 400), mode, comp)
        bins = sorted(rel for rel, (_, _, c) in prev.items() if not c)
        if bins and r.random() < 0.25:
            rel = r.choice(bins)
            files[rel] = (gz_like(r, len(files[rel][0])), 0o644, False)
        if r.random() < 0.15:
            files["R/%s.R" % r.choice(lex().words) if not app.python else "%s.py" % r.choice(lex().words)] = (
                (code_py if app.python else code_r)(r, r.randrange(500, 8000)), 0o644, True)
        files["manifest.json"] = (manifest_json(app, k, files), 0o644, True)
        _app_cache[key] = files
        return files
    r = rng_for("app", app.id, "base")
    L = lex()
    files = {}
    code = code_py if app.python else code_r
    budget = app.size
    # source code
    if app.mode in ("shiny", "rmd-shiny"):
        files["app.R"] = (code_r(r, r.randrange(2000, 30000)), 0o644, True)
        for _ in range(r.randrange(0, 10)):
            files["R/%s.R" % r.choice(L.words)] = (code_r(r, lognorm(r, 5000, 0.9, 300, 80000)), 0o644, True)
        files["www/style.css"] = (code_js(r, r.randrange(500, 20000)), 0o644, True)
        files["renv.lock"] = (prose(r, r.randrange(3000, 40000)), 0o644, True)
    elif app.mode in ("rmd-static", "quarto-static"):
        ext = "Rmd" if app.mode == "rmd-static" else "qmd"
        files["index." + ext] = (prose(r, r.randrange(2000, 20000)) + b"\n```{r}\n" + code_r(r, r.randrange(1000, 10000)) + b"\n```\n", 0o644, True)
        files["renv.lock"] = (prose(r, r.randrange(3000, 40000)), 0o644, True)
    elif app.mode == "api":
        files["plumber.R"] = (code_r(r, r.randrange(2000, 25000)), 0o644, True)
    elif app.mode == "jupyter-static":
        files["notebook.ipynb"] = (prose(r, r.randrange(5000, 60000)) + base64_block(r, r.randrange(10000, 200000)), 0o644, True)
        files["requirements.txt"] = prose(r, r.randrange(100, 1500)), 0o644, True
    else:
        files["app.py"] = (code_py(r, r.randrange(2000, 30000)), 0o644, True)
        for _ in range(r.randrange(0, 12)):
            files["%s/%s.py" % (r.choice(("lib", "pages", "utils", "")), r.choice(L.words))] = (
                code_py(r, lognorm(r, 5000, 0.9, 300, 80000)), 0o644, True)
        files["requirements.txt"] = (prose(r, r.randrange(100, 1500)), 0o644, True)
    files = {k.lstrip("/"): v for k, v in files.items()}
    used = sum(len(v[0]) for v in files.values())
    # data and assets take the rest of the size
    left = max(0, budget - used)
    while left > 0:
        sz = min(left, lognorm(r, max(20_000, budget // 5), 1.0, 2_000, budget))
        kind = r.random()
        if kind < 0.35:
            rel, data, comp = "data/%s.csv" % r.choice(L.words), csv_text(r, sz), True
        elif kind < 0.65:
            rel = "data/%s.%s" % (r.choice(L.words), ("parquet" if app.python else "rds"))
            data, comp = gz_like(r, sz), False
        elif kind < 0.85:
            rel, data, comp = "%s/%s.png" % ("assets" if app.python else "www", r.choice(L.words)), gz_like(r, sz), False
        else:
            rel, data, comp = "%s/%s.js" % ("assets" if app.python else "www", r.choice(L.words)), code_js(r, sz), True
        files[rel] = (data, 0o644, comp)
        left -= sz
    if r.random() < 0.15:
        files["run.sh"] = (b"#!/bin/sh\nset -e\nexec " + code_r(r, 200) + b"\n", 0o755, True)
    files["manifest.json"] = (manifest_json(app, 0, files), 0o644, True)
    _app_cache[key] = files
    return files


def manifest_json(app, k, files):
    doc = {"version": 1, "locale": "en_US", "platform": "4.3.2",
           "metadata": {"appmode": app.mode, "primary_rmd": None, "content_category": None, "bundle": k},
           "files": {rel: {"checksum": hashlib.md5(d).hexdigest()} for rel, (d, _, _) in sorted(files.items()) if rel != "manifest.json"}}
    return (json.dumps(doc, indent=2) + "\n").encode()


def bundle_ids(appid):
    """Global bundle ids for an app's initial bundles: deterministic and distinct across apps."""
    return [appid * 100 + k for k in range(App(appid).nbundles)]


def gen_app(w: Writer, appid: int):
    app = App(appid)
    ids = bundle_ids(appid)
    keep_from = max(0, len(ids) - 2)
    for k, bid in enumerate(ids):
        files = app_bundle(app, k)
        members = sorted((rel, d, m, c) for rel, (d, m, c) in files.items())
        mt = app.created + k * 86400 * 9
        os.makedirs(os.path.join(w.root, "bundles"), exist_ok=True)
        w.bytes += write_targz(os.path.join(w.root, "bundles/app-%d-%d.tar.gz" % (appid, bid)), members, mt)
        w.files += 1
        if k >= keep_from:
            for rel, d, m, _ in members:
                w.file("apps/%d/%d/%s" % (appid, bid, rel), d, m, mt)
    if rng_for("app", appid, "link").random() < 0.12:
        w.symlink("apps/%d/current" % appid, str(ids[-1]))
    if app.mode in ("shiny", "python-dash", "python-streamlit") and rng_for("app", appid, "pkgs").random() < 0.3:
        w.mkdir("apps/%d/%d/.cache" % (appid, ids[-1]))  # an empty directory


_LIB_BLOBS: dict = {}


def report_lib(v):
    """The JS/CSS libraries rmarkdown inlines into self-contained html: same bytes in many reports."""
    if v not in _LIB_BLOBS:
        r = rng_for("htmllib", v)
        _LIB_BLOBS[v] = {
            "jquery-3.6.0/jquery-3.6.0.min.js": code_js(r, 89_000),
            "bootstrap-3.3.5/js/bootstrap.min.js": code_js(r, 36_000),
            "bootstrap-3.3.5/css/bootstrap.min.css": code_js(r, 121_000),
            "bootstrap-3.3.5/css/fonts/glyphicons.woff2": gz_like(r, 18_000),
            "highlightjs-9.12.0/highlight.js": code_js(r, 17_000),
            "navigation-1.1/tabsets.js": code_js(r, 4_000),
        }
    return _LIB_BLOBS[v]


def render_report(r, self_contained, lib_version):
    """Returns {relpath: (bytes, compressible)} of one rendering."""
    L = lex()
    lib = report_lib(lib_version)
    head = ("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\" />\n<meta name=\"generator\" content=\"pandoc\" />\n"
            "<title>%s</title>\n" % " ".join(r.choices(L.words, k=4))).encode()
    body = [b"</head>\n<body>\n<div class=\"container-fluid main-container\">\n"]
    out = {}
    for i in range(r.randrange(2, 9)):
        body.append(b"<h2>" + " ".join(r.choices(L.words, k=3)).encode() + b"</h2>\n")
        body.append(html_text(r, lognorm(r, 6000, 1.0, 300, 150_000)))
        if r.random() < 0.5:
            body.append(b"<table class=\"table\">\n" + html_text(r, lognorm(r, 10000, 1.2, 500, 400_000)) + b"</table>\n")
        if r.random() < 0.6:
            sz = lognorm(r, 25_000, 0.8, 4_000, 400_000)
            if self_contained:
                body.append(base64_block(r, sz))
            else:
                name = "figure-html/unnamed-chunk-%d-1.png" % i
                out["index_files/" + name] = (gz_like(r, sz), False)
                body.append(b'<img src="index_files/' + name.encode() + b'" />\n')
    body.append(b"</div>\n</body>\n</html>\n")
    if self_contained:
        import base64
        libtxt = b"".join(b"<script>" + (d if not p.endswith("woff2") else base64.b64encode(d)) + b"</script>\n"
                          for p, d in sorted(lib.items()))
        out["index.html"] = (head + libtxt + b"".join(body), True)
    else:
        links = b"".join(b'<script src="index_files/' + p.encode() + b'"></script>\n' for p in sorted(lib))
        out["index.html"] = (head + links + b"".join(body), True)
        for p, d in lib.items():
            out["index_files/" + p] = (d, not p.endswith("woff2"))
    return out


def report_apps():
    sc = SCALES[SCALE]
    ids = [a for a in range(1, sc["apps"] + 1) if App(a).mode in REPORT_MODES]
    ids += [a for a in range(1, sc["apps"] + 1) if App(a).mode not in REPORT_MODES]  # scheduled emails etc.
    return ids[: sc["report_apps"]]


def gen_reports(w: Writer, appid: int):
    app = App(appid)
    r = rng_for("reports", appid)
    for variant in app.variants:
        for j in range(r.randrange(1, 6)):
            render = r.randrange(1, 10**6)
            mt = app.created + r.randrange(2 * YEAR)
            sc_ = r.random() < 0.6
            for rel, (data, _c) in render_report(rng_for("render", appid, variant, render), sc_, r.randrange(3)).items():
                w.file("reports/v2/%d/%d/%d/%s" % (appid, variant, render, rel), data, 0o644, mt)


# ---------------------------------------------------------------------------
# logs

_LOG_TEMPLATES = [  # most frequent first
    "INFO [{ip}] GET /content/{app}/ HTTP/1.1 200 {n} bytes in {m}ms",
    "DEBUG Scheduler: {m} jobs queued, {id} running, load {f}",
    "INFO [{ip}] GET /content/{app}/_w_{hex}/session/ HTTP/1.1 101 0 bytes in {m}ms",
    "INFO Starting Connect process {id} for app {app} ({guid})",
    "INFO Connect process {id} exited with status 0 after {f}s",
    "INFO Authenticated user {user} via PAM from {ip}",
    "INFO Python environment env-{hex} reused for app {app}",
    "INFO Restoring R environment for app {app}: {n} packages from cache, {m} installed",
    "WARN Worker {id} for app {app} reached the connection limit ({m})",
    "INFO [{ip}] POST /__api__/v1/content/{guid}/deploy 202 {m}ms",
    "INFO Bundle {n} for app {app} extracted to apps/{app}/{n}",
    "INFO Rendering report {app} variant {n} on schedule {hex}",
    "DEBUG Database: vacuum skipped, {n} pages free of {m}",
    "ERROR Job {hex} for app {app} failed: exit status {m}; see logs/jobs/{app}/{hex}",
]


_POOLS: dict = {}


def log_pools():
    if not _POOLS:
        r = random.Random("%s:logpools" % SEED)
        _POOLS["ip"] = ["10.%d.%d.%d" % (r.randrange(4), r.randrange(256), r.randrange(1, 255)) for _ in range(60)]
        _POOLS["hex"] = ["%016x" % r.getrandbits(64) for _ in range(400)]
        _POOLS["user"] = lex().words[:200]
        _POOLS["guid"] = ["%08x-%04x-%04x" % (r.getrandbits(32), r.getrandbits(16), r.getrandbits(16)) for _ in range(600)]
    return _POOLS


def log_lines(r, n, t0, step=7.0):
    """Connect-ish log lines: few templates, ids from small pools, monotonic timestamps."""
    P = log_pools()
    ips, hexes, users, guids = P["ip"], P["hex"], P["user"], P["guid"]
    out = []
    size = 0
    t = float(t0)
    tpl = _LOG_TEMPLATES
    ntpl = len(tpl)
    napps = 600
    while size < n:
        t += r.expovariate(1.0 / step)
        app = int(napps * r.random() ** 3) + 1  # a few apps are busy, most are not
        k = r.randrange(1 << 30)
        s = tpl[min(ntpl - 1, int(ntpl * r.random() ** 2.5))].format(
            id=1000 + k % 9000, app=app, guid=guids[app % 600], f="%.1f" % ((k >> 13) % 900 / 10),
            n=(k >> 3) % 5000, m=(k >> 17) % 300, ip=ips[k % 60], hex=hexes[(k >> 7) % 400], user=users[(k >> 11) % 200])
        line = "%s.%03d %s\n" % (time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(int(t))), int(t * 1000) % 1000, s)
        out.append(line)
        size += len(line)
    return "".join(out).encode(), t


def gen_logs(w: Writer, shard: int, nshards: int):
    sc = SCALES[SCALE]
    r = rng_for("logs", shard)
    per = sc["logs_bytes"] * 0.8 / nshards
    # server logs: shard 0 has the live ones; rotated files spread over shards
    rot = 8
    for i in range(shard, rot + 1, nshards):
        name = "connect.log" if i == 0 else "connect.log.%d" % i
        t0 = EPOCH - (i + 1) * 30 * 86400
        data, _ = log_lines(r, int(per * nshards / (rot + 1) * 0.75), t0)
        if i >= 5:  # older rotations are gzip'd, like logrotate does
            w.file("logs/" + name + ".gz", gzip_bytes(data, t0), 0o640, t0 + 30 * 86400)
        else:
            w.file("logs/" + name, data, 0o640, t0 + 30 * 86400)
        name = "access.log" if i == 0 else "access.log.%d" % i
        data, _ = log_lines(r, int(per * nshards / (rot + 1) * 0.25), t0, 2.0)
        w.file("logs/" + name, data, 0o640, t0 + 30 * 86400)
    # job logs: many small files
    jobs = sc["job_logs"]
    for j in range(shard, jobs, nshards):
        jr = rng_for("job", j)
        app = jr.randrange(1, sc["apps"] + 1)
        key = hexid(jr, 16)
        t0 = EPOCH - jr.randrange(YEAR)
        out, _ = log_lines(jr, lognorm(jr, 6000, 1.3, 100, 2_000_000), t0, 0.5)
        w.file("logs/jobs/%d/%s/job.stdout" % (app, key), out, 0o640, t0 + 600)
        err, _ = log_lines(jr, lognorm(jr, 800, 1.5, 0, 200_000), t0, 5.0)
        w.file("logs/jobs/%d/%s/job.stderr" % (app, key), err, 0o640, t0 + 600)


def gzip_bytes(data, mtime):
    import gzip
    return gzip.compress(data, 6, mtime=mtime)


# ---------------------------------------------------------------------------
# database


DB_SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, guid TEXT UNIQUE NOT NULL, username TEXT NOT NULL, email TEXT,
  first_name TEXT, last_name TEXT, user_role TEXT, created_time TEXT, updated_time TEXT, active_time TEXT,
  locked INTEGER DEFAULT 0, confirmed INTEGER DEFAULT 1);
CREATE TABLE apps (id INTEGER PRIMARY KEY, guid TEXT UNIQUE NOT NULL, name TEXT, title TEXT, description TEXT,
  app_mode TEXT, owner_id INTEGER REFERENCES users(id), created_time TEXT, updated_time TEXT, bundle_id INTEGER,
  access_type TEXT, r_version TEXT, py_version TEXT);
CREATE TABLE bundles (id INTEGER PRIMARY KEY, app_id INTEGER REFERENCES apps(id), created_time TEXT, size INTEGER,
  active INTEGER, build_status INTEGER);
CREATE TABLE jobs (id INTEGER PRIMARY KEY, app_id INTEGER, variant_id INTEGER, bundle_id INTEGER, job_key TEXT,
  tag TEXT, pid INTEGER, hostname TEXT, start_time TEXT, end_time TEXT, exit_code INTEGER, finalized INTEGER);
CREATE TABLE audit_logs (id INTEGER PRIMARY KEY, user_id INTEGER, time TEXT, action TEXT, event_description TEXT);
CREATE TABLE content_visits (id INTEGER PRIMARY KEY, app_id INTEGER, user_id INTEGER, variant_id INTEGER,
  rendering_id INTEGER, time TEXT, path TEXT, data_version INTEGER);
CREATE INDEX jobs_app ON jobs(app_id, start_time);
CREATE INDEX visits_app_time ON content_visits(app_id, time);
CREATE INDEX audit_time ON audit_logs(time);
"""

_ACTIONS = ["add_user", "update_user", "deploy_application", "update_application", "add_group_member",
            "lock_user", "add_application_user", "remove_bundle", "user_login", "user_logout"]


def db_rows_audit(r, n, first_id, t0, users):
    L = lex()
    rows = []
    t = t0
    for i in range(n):
        t += r.randrange(1, 400)
        rows.append((first_id + i, r.randrange(1, users + 1), ts(t), r.choice(_ACTIONS),
                     "%s %s" % (" ".join(r.choices(L.words, k=r.randrange(3, 12))), r.choice(L.idents))))
    return rows


def db_rows_visits(r, n, first_id, t0, users, apps):
    rows = []
    t = t0
    for i in range(n):
        t += r.randrange(0, 60)
        rows.append((first_id + i, r.randrange(1, apps + 1), r.randrange(1, users + 1), r.randrange(10**5),
                     r.randrange(10**6), ts(t), "/%s/" % "/".join(r.choices(lex().words[:500], k=r.randrange(0, 3))), 1))
    return rows


def gen_db(w: Writer):
    sc = SCALES[SCALE]
    r = rng_for("db")
    path = os.path.join(w.root, "db/connect.db")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    L = lex()
    con = sqlite3.connect(path)
    con.execute("PRAGMA page_size=4096")
    con.executescript(DB_SCHEMA)
    nusers = max(20, sc["db_bytes"] // 20_000)
    users = []
    for u in range(1, nusers + 1):
        fn, ln = r.choice(L.people).split()
        created = EPOCH - r.randrange(4 * YEAR)
        users.append((u, hexid(r, 32), (fn + "." + ln).lower(), "%s.%s@example.com" % (fn.lower(), ln.lower()), fn, ln,
                      r.choice(("viewer", "viewer", "publisher", "administrator")), ts(created), ts(created + r.randrange(YEAR)),
                      ts(EPOCH - r.randrange(YEAR)), int(r.random() < 0.02), 1))
    con.executemany("INSERT INTO users VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", users)
    napps = sc["apps"]
    apps, bundles = [], []
    for a in range(1, napps + 1):
        app = App(a)
        ids = bundle_ids(a)
        apps.append((a, app.guid, app.name, app.name.replace("-", " ").title(), prose(r, r.randrange(0, 400)).decode(),
                     app.mode, r.randrange(1, nusers + 1), ts(app.created), ts(app.created + len(ids) * 9 * 86400), ids[-1],
                     r.choice(("acl", "logged_in", "all")), "" if app.python else "4.3.2", "3.11" if app.python else ""))
        for k, bid in enumerate(ids):
            bundles.append((bid, a, ts(app.created + k * 9 * 86400), r.randrange(10**4, 10**8), int(k == len(ids) - 1), 2))
    con.executemany("INSERT INTO apps VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", apps)
    con.executemany("INSERT INTO bundles VALUES (?,?,?,?,?,?)", bundles)
    budget = sc["db_bytes"]
    njobs = budget // 5 // 170
    jobs = []
    t = EPOCH - 2 * YEAR
    for j in range(1, njobs + 1):
        t += r.randrange(1, 2 * YEAR * 5 // max(1, njobs))
        a = r.randrange(1, napps + 1)
        jobs.append((j, a, r.randrange(10**5), a * 100, hexid(r, 16), r.choice(("run_app", "render", "build_bundle", "install_packages")),
                     r.randrange(1000, 2**22), "connect-%d" % r.randrange(1, 4), ts(t), ts(t + r.randrange(1, 3600)),
                     r.choice((0, 0, 0, 0, 1, 137)), 1))
    con.executemany("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", jobs)
    naudit = budget * 3 // 10 // 110
    con.executemany("INSERT INTO audit_logs VALUES (?,?,?,?,?)", db_rows_audit(r, naudit, 1, EPOCH - 2 * YEAR, nusers))
    nvisits = budget * 45 // 100 // 75
    con.executemany("INSERT INTO content_visits VALUES (?,?,?,?,?,?,?,?)",
                    db_rows_visits(r, nvisits, 1, EPOCH - YEAR, nusers, napps))
    con.commit()
    con.close()
    os.chmod(path, 0o600)
    os.utime(path, (EPOCH, EPOCH))
    w.files += 1
    w.bytes += os.path.getsize(path)
    key = hashlib.sha256(b"secret-%d" % SEED).hexdigest()
    w.file("db/secret.key", (key + "\n").encode(), 0o600, EPOCH - 3 * YEAR)
    w.mkdir("db", 0o700)


def gen_misc(w: Writer):
    w.file(".version", b"2024.05.0\n", 0o644, EPOCH - 30 * 86400)
    w.mkdir("tmp", 0o1777)
    w.mkdir("jobs", 0o750)
    w.symlink("R/current", "4.3.2")
    w.file("server/rstudio-connect.gcfg", prose(rng_for("gcfg"), 3000), 0o640, EPOCH - YEAR)
    w.file("server/.lock", b"", 0o600, EPOCH)
    w.mkdir("server", 0o750)


# ---------------------------------------------------------------------------
# orchestration


def run_task(task):
    kind = task[0]
    w = Writer(ROOT)
    if kind == "renv":
        gen_r_env(w, task[1])
    elif kind == "pyenv":
        gen_py_env(w, task[1])
    elif kind == "app":
        gen_app(w, task[1])
    elif kind == "reports":
        gen_reports(w, task[1])
    elif kind == "logs":
        gen_logs(w, task[1], task[2])
    elif kind == "db":
        gen_db(w)
    elif kind == "misc":
        gen_misc(w)
    return task, w.files, w.bytes


ROOT = ""


def init_globals(root, seed, scale):
    global ROOT, SEED, SCALE
    ROOT, SEED, SCALE = root, seed, scale


def tree_stats(root):
    files = dirs = links = total = 0
    for dp, dn, fn in os.walk(root):
        dirs += 1
        for f in fn + dn:
            p = os.path.join(dp, f)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                links += 1
            elif stat.S_ISREG(st.st_mode):
                files += 1
                total += st.st_size
    return {"files": files, "dirs": dirs, "symlinks": links, "bytes": total}


def fix_dir_times(root):
    """Directories get deterministic mtimes too (after everything inside them was written)."""
    for dp, dn, fn in os.walk(root, topdown=False):
        h = int(hashlib.md5(os.path.relpath(dp, root).encode()).hexdigest()[:6], 16)
        t = EPOCH - h % YEAR
        os.utime(dp, (t, t))


def script_hash():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def manifest_path(out):
    return os.path.abspath(out).rstrip("/") + ".manifest.json"


def read_manifest(out):
    try:
        with open(manifest_path(out)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_manifest(out, doc):
    tmp = manifest_path(out) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, manifest_path(out))


def generate(out, scale, seed, jobs):
    sc = SCALES[scale]
    init_globals(out, seed, scale)
    os.makedirs(out, exist_ok=True)
    os.chmod(out, 0o755)
    tasks = [("db",), ("misc",)]
    tasks += [("renv", i) for i in range(sc["r_envs"])]
    tasks += [("pyenv", i) for i in range(sc["py_envs"])]
    tasks += [("app", a) for a in range(1, sc["apps"] + 1)]
    tasks += [("reports", a) for a in report_apps()]
    nlog = 4
    tasks += [("logs", s, nlog) for s in range(nlog)]
    # big tasks first so the two workers end together; order does not change the output
    weight = {"pyenv": 50, "renv": 40, "logs": 45, "db": 60, "app": 5, "reports": 8, "misc": 0}
    tasks.sort(key=lambda t: (-(weight[t[0]] if t[0] != "app" else min(60, App(t[1]).size * App(t[1]).nbundles // 4_000_000)), t))
    t0 = time.time()
    files = total = 0
    done = 0
    if jobs > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(jobs, initializer=init_globals, initargs=(out, seed, scale)) as pool:
            for task, f, b in pool.imap_unordered(run_task, tasks):
                files += f
                total += b
                done += 1
                progress(done, len(tasks), total, t0)
    else:
        for task in tasks:
            _, f, b = run_task(task)
            files += f
            total += b
            done += 1
            progress(done, len(tasks), total, t0)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    fix_dir_times(out)
    return time.time() - t0


def progress(done, n, total, t0):
    if sys.stderr.isatty():
        sys.stderr.write("\r  %d/%d tasks, %.0f MB, %.0fs   " % (done, n, total / 1e6, time.time() - t0))
        sys.stderr.flush()


# ---------------------------------------------------------------------------
# churn


def churn(out, pct):
    man = read_manifest(out)
    if man is None:
        sys.exit("make_fixture: %s has no manifest (%s); generate it first" % (out, manifest_path(out)))
    init_globals(os.path.abspath(out), man["seed"], man["scale"])
    rnd = man.get("churn_rounds", 0) + 1
    r = rng_for("churn", rnd)
    w = Writer(ROOT)
    budget = man["bytes"] * pct / 100.0
    now = EPOCH + rnd * 3600
    # 1. new bundles (~50%): next version of existing apps, tarball + extracted dir
    sc = SCALES[SCALE]
    apps_dir = os.path.join(ROOT, "apps")
    appids = sorted(int(d) for d in os.listdir(apps_dir) if d.isdigit())
    new_bundles = 0
    spent = 0
    order = appids[:]
    r.shuffle(order)
    for appid in order:
        if spent >= budget * 0.5:
            break
        app = App(appid)
        if app.size > budget * 0.6 and spent > 0:
            continue
        existing = sorted(int(n.split("-")[2].split(".")[0]) for n in os.listdir(os.path.join(ROOT, "bundles"))
                          if n.startswith("app-%d-" % appid))
        k = len(existing)
        bid = max(existing) + 1
        files = app_bundle(app, k)
        members = sorted((rel, d, m, c) for rel, (d, m, c) in files.items())
        spent += write_targz(os.path.join(ROOT, "bundles/app-%d-%d.tar.gz" % (appid, bid)), members, now)
        for rel, d, m, _ in members:
            w.file("apps/%d/%d/%s" % (appid, bid, rel), d, m, now)
            spent += len(d)
        # Connect keeps the two newest bundles unpacked
        for old in existing[:-1]:
            p = os.path.join(ROOT, "apps/%d/%d" % (appid, old))
            if os.path.isdir(p):
                shutil.rmtree(p)
        link = os.path.join(ROOT, "apps/%d/current" % appid)
        if os.path.islink(link):
            w.symlink("apps/%d/current" % appid, str(bid), now)
        new_bundles += 1
    # 2. logs (~25%): append to the live logs and add job logs
    log_budget = budget * 0.25
    data, _ = log_lines(r, int(log_budget * 0.6), EPOCH, 0.3)
    w.append("logs/connect.log", data, now)
    data2, _ = log_lines(r, int(log_budget * 0.2), EPOCH, 0.2)
    w.append("logs/access.log", data2, now)
    spent += len(data) + len(data2)
    jb = 0
    while jb < log_budget * 0.2:
        key = hexid(r, 16)
        app = r.choice(appids)
        out_, _ = log_lines(r, lognorm(r, 6000, 1.3, 100, 2_000_000), EPOCH, 0.5)
        w.file("logs/jobs/%d/%s/job.stdout" % (app, key), out_, 0o640, now)
        w.file("logs/jobs/%d/%s/job.stderr" % (app, key), b"", 0o640, now)
        jb += len(out_)
    spent += jb
    # 3. reports (~15%): re-render some existing reports in place
    rep_root = os.path.join(ROOT, "reports/v2")
    renders = []
    for dp, dn, fn in os.walk(rep_root):
        if "index.html" in fn:
            renders.append(os.path.relpath(dp, ROOT))
    renders.sort()
    r.shuffle(renders)
    rb = 0
    rewritten = 0
    for rel in renders:
        if rb >= budget * 0.15:
            break
        selfc = not os.path.isdir(os.path.join(ROOT, rel, "index_files"))
        for f, (data, _c) in render_report(rng_for("churn-render", rnd, rel), selfc, r.randrange(3)).items():
            if f.startswith("index_files/") and "figure-html" not in f:
                continue  # unchanged libs
            w.file(rel + "/" + f, data, 0o644, now)
            rb += len(data)
        rewritten += 1
    spent += rb
    # 4. database (~10%): new visits / audit rows, a few updated apps
    dbp = os.path.join(ROOT, "db/connect.db")
    before = os.path.getsize(dbp)
    con = sqlite3.connect(dbp)
    mx_v = con.execute("SELECT COALESCE(MAX(id),0) FROM content_visits").fetchone()[0]
    mx_a = con.execute("SELECT COALESCE(MAX(id),0) FROM audit_logs").fetchone()[0]
    nusers = con.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    target = budget * 0.1
    con.executemany("INSERT INTO content_visits VALUES (?,?,?,?,?,?,?,?)",
                    db_rows_visits(r, int(target * 0.6 / 75), mx_v + 1, EPOCH, nusers, sc["apps"]))
    con.executemany("INSERT INTO audit_logs VALUES (?,?,?,?,?)", db_rows_audit(r, int(target * 0.4 / 110), mx_a + 1, EPOCH, nusers))
    con.execute("UPDATE apps SET updated_time = ? WHERE id % 7 = ?", (ts(now), rnd % 7))
    con.commit()
    con.close()
    os.utime(dbp, (now, now))
    spent += max(0, os.path.getsize(dbp) - before)
    man.update(tree_stats(ROOT))
    man["churn_rounds"] = rnd
    man.setdefault("churn_log", []).append({"round": rnd, "pct": pct, "new_bundles": new_bundles,
                                             "reports_rewritten": rewritten, "approx_bytes": int(spent)})
    write_manifest(out, man)
    print("churn round %d: %d new bundles, %d reports re-rendered, logs and db appended; ~%.1f MB (%.2f%% of %.1f MB)" % (
        rnd, new_bundles, rewritten, spent / 1e6, 100.0 * spent / max(1, man["bytes"]), man["bytes"] / 1e6))


# ---------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="directory to create (the data tree itself)")
    ap.add_argument("--scale", choices=sorted(SCALES), default="small")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--churn", type=float, metavar="PCT", help="modify an existing fixture by about PCT%% of its bytes")
    ap.add_argument("--reuse", action="store_true", help="do nothing if OUT already holds this exact fixture")
    ap.add_argument("--force", action="store_true", help="replace an existing fixture at OUT")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (default: %(default)s)")
    a = ap.parse_args(argv)
    os.umask(0o022)
    out = os.path.abspath(a.out)
    if a.churn is not None:
        churn(out, a.churn)
        return 0
    man = read_manifest(out)
    want = {"scale": a.scale, "seed": a.seed, "generator_version": GENERATOR_VERSION, "generator_sha": script_hash()}
    if a.reuse and man and os.path.isdir(out) and all(man.get(k) == v for k, v in want.items()) and man.get("churn_rounds") == 0 \
            and man.get("complete"):
        print("fixture %s is up to date (%s, seed %d: %d files, %.1f MB)" % (out, a.scale, a.seed, man["files"], man["bytes"] / 1e6))
        return 0
    if os.path.exists(out) and os.listdir(out):
        if not (a.force or a.reuse):
            sys.exit("make_fixture: %s exists and is not empty (use --force to regenerate, --reuse to keep a matching one)" % out)
        if man is None:
            sys.exit("make_fixture: refusing to delete %s: it has no fixture manifest" % out)
        shutil.rmtree(out)
    if os.path.exists(manifest_path(out)):
        os.unlink(manifest_path(out))
    elapsed = generate(out, a.scale, a.seed, max(1, a.jobs))
    doc = dict(want)
    doc.update(tree_stats(out))
    doc.update({"churn_rounds": 0, "complete": True, "generated_in_s": round(elapsed, 1)})
    write_manifest(out, doc)
    print("fixture %s: %s, seed %d: %d files, %d dirs, %d symlinks, %.1f MB in %.0fs" % (
        out, a.scale, a.seed, doc["files"], doc["dirs"], doc["symlinks"], doc["bytes"] / 1e6, elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
