#!/usr/bin/env bash
# Installs what building and testing lockstep needs on Debian 12, and nothing when it is
# already there. Debian packages only (run as root; uses sudo when not root).
set -euo pipefail

packages=(
  libzstd-dev      # zstd for blob compression (system-library target CZstd)
  libsqlite3-dev   # SQLite integrity checks of application databases (target CSQLite)
  pkg-config       # finds libzstd
  acl              # getfacl/setfacl: the tests set real POSIX ACLs
  attr             # getfattr/setfattr: the tests set real xattrs
  util-linux       # setpriv: a test runs lockstep as an unprivileged user
  time             # /usr/bin/time -v for make bench
  python3          # the demo and the tests make SQLite files and sockets with it
  sqlite3          # the demo shows the database
  postgresql-15    # the tests start a real PostgreSQL 15 server on loopback (initdb, pg_ctl)
  postgresql-client-15  # pg_dump, pg_restore, psql: application backups of PostgreSQL
  python3-psycopg2 # the Connect simulator's PostgreSQL provider (run with /usr/bin/python3)
  btrfs-progs      # btrfs, mkfs.btrfs: backup --fs-snapshot btrfs, its tests and the bench (loop-mounted)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift is not on PATH: install Swift 6 first" >&2; exit 1; }
