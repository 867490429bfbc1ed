#!/usr/bin/env bash
# Reconciliation at scale (issue 18), through the release `cutover reconcile` binary:
#   (a) 1M rows (pgbench -s 10) vs 10M rows (pgbench -s 100), identical data, one checksum
#       check each: wall time and peak client RSS; target 10M <= 10.5x the 1M time, RSS < 50 MB
#   (b) 200 small tables (5,000 rows each, `tables = ["many.*"]`) vs one table of the same
#       1,000,000 rows and shape (`single.one`): target < 2x
#   (c) the 1M check again with `concurrency = 2` (two sessions per side in one snapshot): the
#       speed-up depends on idle cores (on a 2-core machine that holds both servers, there are none)
#
#   benches/reconcile_scale.sh [ROUNDS]     (default 3; the rounds interleave a, b)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
. benches/release.sh
. benches/pair.sh
start_pair shared_buffers=256MB max_wal_size=4GB

load() {
  local port=$1
  for db in s10 s100 many; do psql_on "$port" postgres "create database $db"; done
  "$PGBIN/pgbench" -i -s 10 -q -h 127.0.0.1 -p "$port" -U postgres s10 >/dev/null 2>&1
  "$PGBIN/pgbench" -i -s 100 -q -h 127.0.0.1 -p "$port" -U postgres s100 >/dev/null 2>&1
  psql_on "$port" many "create schema many; create schema single;
    create table single.one (aid int primary key, bid int, abalance int, filler char(84));
    insert into single.one select g, g / 100000, 0, '' from generate_series(1, 1000000) g;"
  psql_on "$port" many "do \$\$ begin for i in 1..200 loop
      execute format('create table many.t%s (aid int primary key, bid int, abalance int, filler char(84))', lpad(i::text, 3, '0'));
      execute format('insert into many.t%s select g, g / 100000, 0, %L from generate_series(1, 5000) g', lpad(i::text, 3, '0'), '');
    end loop; end \$\$;"
  for db in s10 s100 many; do psql_on "$port" "$db" "vacuum (analyze, freeze)"; done
}
echo "== loading 1M, 10M, 200 x 5,000 and 1 x 1M rows on both (a few minutes)"
load "$SOURCE_PORT" & load "$TARGET_PORT" & wait

conn() { printf '[connections.%s]\ndsn = "host=127.0.0.1 port=%s user=postgres dbname=%s"\n' "$1" "$2" "$3"; }
{
  echo '[runbook]'; echo 'name = "scale bench"'
  for db in s10 s100 many; do conn "${db}_src" "$SOURCE_PORT" "$db"; conn "${db}_tgt" "$TARGET_PORT" "$db"; done
  for c in "1M s10 public.pgbench_accounts" "10M s100 public.pgbench_accounts" "single many single.one"; do
    set -- $c
    printf '[[reconcile]]\nname = "%s"\nkind = "checksum"\nsource = "%s_src"\ntarget = "%s_tgt"\ntable = "%s"\nkey = "aid"\nrecheck = "never"\n' "$1" "$2" "$2" "$3"
  done
  printf '[[reconcile]]\nname = "1M c2"\nkind = "checksum"\nsource = "s10_src"\ntarget = "s10_tgt"\ntable = "public.pgbench_accounts"\nkey = "aid"\nrecheck = "never"\nconcurrency = 2\n'
  printf '[[reconcile]]\nname = "200 tables"\nkind = "checksum"\nsource = "many_src"\ntarget = "many_tgt"\ntables = ["many.*"]\nrecheck = "never"\n'
  printf '[[step]]\nid = "x"\nrun = "true"\n'
} >"$WORK/rb.toml"
"$CUTOVER" check "$WORK/rb.toml"

# measure CHECK: runs `cutover reconcile` on one check; sets WALL (s) and RSS (MiB)
measure() {
  local t0 t1 code=0
  t0=$(date +%s.%N)
  (cd "$WORK" && /usr/bin/time -v -o "$WORK/time" "$CUTOVER" reconcile rb.toml "$1" --journal "j-$RANDOM$RANDOM.jsonl" >"$WORK/out" 2>&1) || code=$?
  t1=$(date +%s.%N)
  if [ "$code" != 0 ]; then echo "!! $1 exited $code"; cat "$WORK/out"; exit 1; fi
  WALL=$(echo "$t1 - $t0" | bc -l)
  RSS=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$WORK/time")
}
echo "--- warm-up"
for c in 1M 10M single "200 tables" "1M c2"; do measure "$c"; grep -h "≡" "$WORK/out"; done

declare -a A B S T C AR BR
printf '\n%-6s | %-16s | %-16s | %-8s | %-16s | %-16s | %-8s | %-10s | %-8s\n' round "1M s (RSS MiB)" "10M s (RSS MiB)" "10M/1M" "1 table s" "200 tables s" "200/1" "1M c2 s" "1M/c2"
for i in $(seq 1 "$ROUNDS"); do
  measure 1M; A[i]=$WALL; AR[i]=$RSS
  measure 10M; B[i]=$WALL; BR[i]=$RSS
  measure single; S[i]=$WALL
  measure "200 tables"; T[i]=$WALL
  measure "1M c2"; C[i]=$WALL
  printf '%-6s | %7.2f (%5s)  | %7.2f (%5s)  | %6.2fx  | %7.2f          | %7.2f          | %6.2fx  | %7.2f    | %6.2fx\n' \
    "$i" "${A[i]}" "${AR[i]}" "${B[i]}" "${BR[i]}" "$(echo "${B[i]} / ${A[i]}" | bc -l)" \
    "${S[i]}" "${T[i]}" "$(echo "${T[i]} / ${S[i]}" | bc -l)" "${C[i]}" "$(echo "${A[i]} / ${C[i]}" | bc -l)"
done
MA=$(median "${A[@]}"); MB=$(median "${B[@]}"); MS=$(median "${S[@]}"); MT=$(median "${T[@]}"); MC=$(median "${C[@]}")
printf '%-6s | %7.2f          | %7.2f          | %6.2fx  | %7.2f          | %7.2f          | %6.2fx  | %7.2f    | %6.2fx\n' \
  median "$MA" "$MB" "$(echo "$MB / $MA" | bc -l)" "$MS" "$MT" "$(echo "$MT / $MS" | bc -l)" "$MC" "$(echo "$MA / $MC" | bc -l)"
echo "peak client RSS over the rounds: 1M $(printf '%s\n' "${AR[@]}" | sort -g | tail -1) MiB, 10M $(printf '%s\n' "${BR[@]}" | sort -g | tail -1) MiB"
echo "targets (issue 18): 10M <= 10.5x the 1M time with RSS < 50 MB; 200 tables < 2x one table of the same rows"
