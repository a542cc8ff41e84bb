#!/usr/bin/env bash
# The demo: a generated sample tree (application-shaped: bundles, package files repeated across
# environments, logs, a SQLite file, a key file, links and special files) is backed up into a
# local repository, changed, backed up again, restored and verified. Prints what happened.
set -euo pipefail
LOCKSTEP="${1:?usage: demo.sh PATH-TO-LOCKSTEP}"
work="$(mktemp -d /var/tmp/lockstep-demo.XXXXXX)"
trap 'rm -rf "$work"' EXIT
src="$work/var/lib/rstudio-connect"
export LOCKSTEP_REPOSITORY="$work/repo" LOCKSTEP_PASSWORD_FILE="$work/password"
head -c 24 /dev/urandom | base64 > "$LOCKSTEP_PASSWORD_FILE"
chmod 600 "$LOCKSTEP_PASSWORD_FILE"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a sample installation under $src"
mkdir -p "$src"/{apps,bundles,db,logs,R/4.3/library,python/3.11/site-packages}
for pkg in $(seq 1 40); do
  mkdir -p "$src/R/4.3/library/pkg$pkg"
  for f in DESCRIPTION NAMESPACE R.rds; do
    printf 'Package: pkg%s\nVersion: 1.%s\nfile: %s\n%s\n' "$pkg" "$pkg" "$f" "$(seq 1 200 | tr '\n' ' ')" > "$src/R/4.3/library/pkg$pkg/$f"
  done
done
for app in 1 2 3; do   # each app's environment repeats the same packages: deduplicated
  mkdir -p "$src/apps/$app/packrat"
  cp -a "$src/R/4.3/library/." "$src/apps/$app/packrat/"
  head -c 3000000 /dev/urandom > "$src/bundles/bundle-$app.tar.gz"
done
seq 1 50000 | sed 's/^/GET \/content\/ 200 /' > "$src/logs/connect.log"
head -c 32 /dev/urandom > "$src/db/secret.key" && chmod 600 "$src/db/secret.key"
if command -v sqlite3 >/dev/null; then
  sqlite3 "$src/db/connect.db" "create table apps(id integer primary key, name text); insert into apps(name) values ('one'),('two');"
else
  python3 -c "import sqlite3; c=sqlite3.connect('$src/db/connect.db'); c.execute('create table apps(id integer primary key, name text)'); c.execute(\"insert into apps(name) values ('one'),('two')\"); c.commit()"
fi
ln -s ../bundles/bundle-1.tar.gz "$src/apps/1/bundle.tar.gz"
ln "$src/logs/connect.log" "$src/logs/connect.log.hardlink"
mkfifo "$src/db/notify.fifo"
chown -R daemon:daemon "$src/apps/2"
chmod 2750 "$src/apps/3"
setfattr -n user.origin -v demo "$src/db/connect.db" 2>/dev/null || true
du -sh "$src" | sed 's/^/size: /'
echo "files: $(find "$src" | wc -l)"

step "lockstep init"
"$LOCKSTEP" init
step "lockstep backup (first)"
"$LOCKSTEP" backup "$src"
step "a change: a new bundle, a log line, a database row"
head -c 1000000 /dev/urandom > "$src/bundles/bundle-4.tar.gz"
echo "GET /content/4 200" >> "$src/logs/connect.log"
python3 -c "import sqlite3; c=sqlite3.connect('$src/db/connect.db'); c.execute(\"insert into apps(name) values ('three')\"); c.commit()"
step "lockstep backup (second: only the changes are read)"
"$LOCKSTEP" backup "$src"
step "lockstep snapshots"
"$LOCKSTEP" snapshots
step "lockstep ls latest $src/db"
"$LOCKSTEP" ls latest "$src/db"
step "lockstep restore latest --target $work/restored --verify"
"$LOCKSTEP" restore latest --target "$work/restored" --verify
step "compare: diff -r and ownership"
diff -r --no-dereference -x notify.fifo "$src" "$work/restored$src" && echo "contents identical (diff -r)"
[ "$(stat -c %U:%G "$work/restored$src/apps/2")" = "daemon:daemon" ] && echo "ownership preserved"
[ "$(stat -c %a "$work/restored$src/db/secret.key")" = "600" ] && echo "key file mode 0600 preserved"
step "lockstep check --read-data"
"$LOCKSTEP" check --read-data
printf '\n\033[1mdemo complete\033[0m: backed up, changed, backed up again, restored and verified.\n'
