# Sourced by the reconcile benches (from the repository's top level): PGBIN, the bench helper
# built in release ($BENCH), a work directory ($WORK, /tmp/cutover-<the bench's name>-*,
# removed on exit), `start_pair KEY=VALUE...` (a source/target pair with those postgresql.conf
# settings: sets SOURCE_PORT, SOURCE_ROOT, TARGET_PORT, TARGET_ROOT; both stopped on exit),
# `psql_on PORT DB SQL` (one statement as postgres, unaligned, stopping on error) and
# `median X...`.
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

echo "== building the bench helper (release)"
BENCH=$(cargo bench --bench reconcile_bench --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("executable") and m.get("target", {}).get("name") == "reconcile_bench":
        print(m["executable"])')

WORK=$(mktemp -d "/tmp/cutover-$(basename "$0" .sh)-XXXXXX")
chmod 755 "$WORK"
AS=()
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); fi
SOURCE_ROOT="" TARGET_ROOT=""
cleanup() {
  for r in "$SOURCE_ROOT" "$TARGET_ROOT"; do
    [ -n "$r" ] && "${AS[@]}" "$PGBIN/pg_ctl" -D "$r/data" -m immediate -s stop >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

start_pair() {
  echo "== creating the source/target pair"
  eval "$("$BENCH" pair "$WORK" "$@")"
}

psql_on() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -p "$1" -d "$2" -c "$3"; }

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
