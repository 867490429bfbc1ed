#!/usr/bin/env bash
# `cutover init` and preflight (issue 25), through the release binary:
#   (a) init on a schema of 2,000 tables (1,800 with a primary key, 200 keyless, one serial
#       each) on both sides, without --sample: wall time (target < 5 s) and peak RSS
#   (b) the preflight of the runbook it writes (2,000 tables under strict coverage)
#   (c) the preflight of a drill-sized runbook (runbooks/drill.toml's shape: two connections,
#       a logical [lag] read at run time, four checks): target < 500 ms
#
#   benches/init.sh [ROUNDS]     (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
. benches/release.sh
. benches/pair.sh
start_pair max_locks_per_transaction=1024
load() {
  psql_on "$1" postgres "create database app"
  psql_on "$1" app "do \$\$ begin for i in 1..2000 loop
      if i <= 1800 then
        execute format('create table t%s (id serial primary key, v text)', i);
      else
        execute format('create table t%s (id serial, v text)', i);
      end if;
      execute format('insert into t%s (v) values (''a''), (''b'')', i);
    end loop; end \$\$;"
}
echo "== creating 2,000 tables on both sides"
load "$SOURCE_PORT" & load "$TARGET_PORT" & wait
SRC="host=127.0.0.1 port=$SOURCE_PORT user=postgres dbname=app"
TGT="host=127.0.0.1 port=$TARGET_PORT user=postgres dbname=app"
cd "$WORK"

ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
rss_kb() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident/ {gsub(/ /, "", $2); print $2}'; }

"$CUTOVER" init --source "$SRC" --target "$TGT" -o big.toml >/dev/null
echo "init wrote $(wc -l < big.toml) lines; check: $("$CUTOVER" check big.toml 2>&1 | head -1)"

small() {
  cat <<TOML
[runbook]
name = "drill-sized"
[connections.source]
dsn = "$SRC"
[connections.target]
dsn = "$TGT"
[lag]
method = "sql"
on = "source"
sql = "select 0"
warn = "1MB"
critical = "8MB"
[[reconcile]]
name = "t1"
kind = "checksum"
table = "public.t1"
key = "id"
[[reconcile]]
name = "t2"
kind = "count"
table = "public.t2"
[[reconcile]]
name = "t1801"
kind = "checksum"
table = "public.t1801"
[[reconcile]]
name = "sequences"
kind = "sequences"
schemas = ["public"]
[[step]]
id = "x"
run = "true"
TOML
}
small > small.toml

declare -a INIT PRE_BIG PRE_SMALL
for r in $(seq "$ROUNDS"); do
  INIT+=("$(ms "$CUTOVER" init --source "$SRC" --target "$TGT" -o -)")
  PRE_BIG+=("$(ms "$CUTOVER" preflight big.toml)")
  PRE_SMALL+=("$(ms "$CUTOVER" preflight small.toml)")
done
RSS=$(rss_kb "$CUTOVER" init --source "$SRC" --target "$TGT" -o -)
echo
echo "rounds: $ROUNDS (medians; all values ms)"
echo "(a) init, 2,000 tables:            ${INIT[*]}  median $(median "${INIT[@]}") ms (target < 5000), peak RSS $((RSS / 1024)) MB"
echo "(b) preflight of that runbook:     ${PRE_BIG[*]}  median $(median "${PRE_BIG[@]}") ms"
echo "(c) preflight, drill-sized:        ${PRE_SMALL[*]}  median $(median "${PRE_SMALL[@]}") ms (target < 500)"
