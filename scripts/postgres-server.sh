#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the tests, on loopback only.
#   postgres-server.sh start DIR   initdb in DIR (owned by the postgres user), start on a free
#                                  port with password (scram) authentication; prints
#                                  "PORT PASSWORD_FILE" and writes DIR/env for the tests
#   postgres-server.sh stop DIR    stops the server by the pid in its postmaster.pid, removes DIR
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?directory}
bin=/usr/lib/postgresql/15/bin
as_postgres() { setpriv --reuid=postgres --regid=postgres --clear-groups -- "$@"; }

case "$cmd" in
start)
  [ -x "$bin/initdb" ] || { echo "PostgreSQL 15 is not installed (apt-get install postgresql-15)" >&2; exit 1; }
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  chmod 700 "$dir"
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  printf '%s\n' "$password" > "$dir/pwfile"
  chown postgres "$dir/pwfile"
  as_postgres "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" --auth=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  printf 'PGHOST=127.0.0.1\nPGPORT=%s\nPGUSER=postgres\n' "$port" > "$dir/env"
  echo "$port $dir/pwfile"
  ;;
stop)
  [ -f "$dir/data/postmaster.pid" ] && pid=$(head -1 "$dir/data/postmaster.pid") || pid=""
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid"   # fast shutdown
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
