#!/usr/bin/env bash
# Reconciliation benchmark: cutover vs reladiff vs the sha256-per-range floor, same run, same data.
#
#   benches/reconcile.sh [ROUNDS] [SCALE]   (default 3 rounds after one warm-up of each;
#                                            SCALE 10: 1,000,000 rows, 100: 10,000,000)
#
# Creates a source/target pair with the test harness (benches/reconcile_bench.rs), loads
# `pgbench -i -s SCALE` (SCALE x 100,000 pgbench_accounts rows) into both, injects 10 differences on
# the target (4 abalance updates, 3 filler updates, 3 deletes, in 10 different 10k-key
# ranges), installs reladiff from PyPI into a virtualenv, then times side by side:
#   (a) cutover: one checksum check reporting the exact keys, native hashing (the default)
#       (the reconcile_bench bench binary run ...)
#   (a') the same check with hash = "text" (the row-text sha256 path), for its time and RSS
#   (b) reladiff 'reladiff[postgresql]' on the same two databases
#   (c) the floor (issue 16's definition): one sha256 per 10k-key range of the key-ordered
#       row text, `select sha256(convert_to(string_agg(r, E'\n'), 'UTF8')) from (select t::text
#       as r ... where aid >= lo and aid < hi order by aid)`, 100 statements per side, both
#       sides at the same time (one psql per side): no planning, no drill-down, no client work
#   (d) the heap scan of both sides at once, `select sum(length(filler)) from pgbench_accounts`
#       (what reading the table costs, no hashing at all)
# Wall times include process start and connecting; peak client RSS from /usr/bin/time -v.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-3}
SCALE=${2:-10}
ROWS=$((SCALE * 100000))
. benches/pair.sh
start_pair shared_buffers=256MB max_wal_size=2GB
PSQL=("$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres -d postgres)
SRC="host=127.0.0.1 port=$SOURCE_PORT user=postgres dbname=postgres"
TGT="host=127.0.0.1 port=$TARGET_PORT user=postgres dbname=postgres"

echo "== pgbench -i -s $SCALE on both ($ROWS rows)"
"$PGBIN/pgbench" -i -s "$SCALE" -q -h 127.0.0.1 -p "$SOURCE_PORT" -U postgres postgres 2>&1 | tail -1 &
"$PGBIN/pgbench" -i -s "$SCALE" -q -h 127.0.0.1 -p "$TARGET_PORT" -U postgres postgres 2>&1 | tail -1 &
wait
"${PSQL[@]}" -p "$TARGET_PORT" -c "
  update pgbench_accounts set abalance = abalance + 1 where aid in (12345, 150000, 299999, 420001);
  update pgbench_accounts set filler = 'changed' where aid in (555555, 600000, 777777);
  delete from pgbench_accounts where aid in (812345, 900001, 999999);"
for p in "$SOURCE_PORT" "$TARGET_PORT"; do
  "${PSQL[@]}" -p "$p" -c "vacuum (analyze, freeze) pgbench_accounts" &
done
wait
EXPECTED="12345 150000 299999 420001 555555 600000 777777 812345 900001 999999"

echo "== installing reladiff from PyPI into a virtualenv"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check 'reladiff[postgresql]'
echo "   $("$WORK/venv/bin/pip" show reladiff 2>/dev/null | grep -i '^version' || true)"

# measure NAME CMD... : runs CMD, stdout to $WORK/NAME.out; sets WALL (s) and RSS (MiB)
measure() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || true
  t1=$(date +%s.%N)
  WALL=$(echo "$t1 - $t0" | bc -l)
  RSS=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$WORK/$name.time")
}

# PARTS=N: that many ranges instead of the default (one per 5,000 rows).
run_cutover() { measure cutover "$BENCH" run "$SRC" "$TGT" pgbench_accounts aid checksum ${PARTS:-}; }
run_text() { RECONCILE_HASH=text measure text "$BENCH" run "$SRC" "$TGT" pgbench_accounts aid checksum ${PARTS:-}; }
run_reladiff() {
  measure reladiff "$WORK/venv/bin/reladiff" \
    "postgresql://postgres@127.0.0.1:$SOURCE_PORT/postgres" pgbench_accounts \
    "postgresql://postgres@127.0.0.1:$TARGET_PORT/postgres" pgbench_accounts \
    -k aid -c abalance -c bid -c filler
}
for lo in $(seq 1 10000 "$ROWS"); do
  echo "select sha256(convert_to(string_agg(o.r, E'\\n'), 'UTF8')) from (select t::text as r from pgbench_accounts t where aid >= $lo and aid < $((lo + 10000)) order by aid) o;"
done >"$WORK/floor.sql"
run_floor() {
  measure floor bash -c "'$PGBIN/psql' -X -At -h 127.0.0.1 -U postgres -d postgres -p $SOURCE_PORT -f '$WORK/floor.sql' >'$WORK/floor.source' &
                         '$PGBIN/psql' -X -At -h 127.0.0.1 -U postgres -d postgres -p $TARGET_PORT -f '$WORK/floor.sql' >'$WORK/floor.target' &
                         wait"
  FLOOR_DIFF=$(diff "$WORK/floor.source" "$WORK/floor.target" | grep -c '^<' || true)
}
SCAN_SQL="select sum(length(filler)) from pgbench_accounts"
run_scan() {
  measure scan bash -c "'$PGBIN/psql' -X -At -h 127.0.0.1 -U postgres -d postgres -p $SOURCE_PORT -c \"$SCAN_SQL\" &
                        '$PGBIN/psql' -X -At -h 127.0.0.1 -U postgres -d postgres -p $TARGET_PORT -c \"$SCAN_SQL\" &
                        wait"
}

check_outputs() {
  local got
  local f
  for f in cutover text; do
    got=$(grep -oE 'aid = [0-9]+' "$WORK/$f.out" | awk '{print $3}' | sort -n | tr '\n' ' ' | sed 's/ $//')
    if [ "$got" != "$EXPECTED" ]; then
      echo "!! $f reported [$got], expected [$EXPECTED]"; cat "$WORK/$f.out" "$WORK/$f.err"; exit 1
    fi
  done
  REL_LINES=$(grep -cE '^[-+] ' "$WORK/reladiff.out" || true)
}

echo "== warm-up"
run_cutover; run_text; run_reladiff; run_floor; run_scan; check_outputs
echo "--- cutover output (warm-up run):"
cat "$WORK/cutover.out"
echo "--- reladiff: $REL_LINES diff lines (expected 17: 7 updates x 2 + 3 deletes)"
echo "--- floor: $(wc -l <"$WORK/floor.source") range digests per side, $FLOOR_DIFF differ (expected 10)"

declare -a C X R F S CR XR RR FR
printf '\n%-6s | %-17s | %-17s | %-17s | %-17s | %-7s | %-8s | %-8s | %-8s\n' round "native s (RSS)" "text s (RSS)" "reladiff s (RSS)" "floor s (RSS)" "scan s" "rel/nat" "nat/scan" "txt/nat"
for i in $(seq 1 "$ROUNDS"); do
  run_cutover; C[i]=$WALL; CR[i]=$RSS
  run_text; X[i]=$WALL; XR[i]=$RSS
  run_reladiff; R[i]=$WALL; RR[i]=$RSS
  run_floor; F[i]=$WALL; FR[i]=$RSS
  run_scan; S[i]=$WALL
  check_outputs
  printf '%-6s | %6.2f (%6s)   | %6.2f (%6s)   | %6.2f (%6s)   | %6.2f (%6s)   | %6.2f  | %6.2fx  | %6.2fx  | %6.2fx\n' \
    "$i" "${C[i]}" "${CR[i]}" "${X[i]}" "${XR[i]}" "${R[i]}" "${RR[i]}" "${F[i]}" "${FR[i]}" "${S[i]}" \
    "$(echo "${R[i]} / ${C[i]}" | bc -l)" "$(echo "${C[i]} / ${S[i]}" | bc -l)" "$(echo "${X[i]} / ${C[i]}" | bc -l)"
done
MC=$(median "${C[@]}"); MX=$(median "${X[@]}"); MR=$(median "${R[@]}"); MF=$(median "${F[@]}"); MS=$(median "${S[@]}")
printf '%-6s | %6.2f            | %6.2f            | %6.2f            | %6.2f            | %6.2f  | %6.2fx  | %6.2fx  | %6.2fx\n' \
  median "$MC" "$MX" "$MR" "$MF" "$MS" "$(echo "$MR / $MC" | bc -l)" "$(echo "$MC / $MS" | bc -l)" "$(echo "$MX / $MC" | bc -l)"
echo
echo "rows: $ROWS; all 10 keys found by both cutover modes every round"
echo "targets (issue 27): native <= 2.5x the scan; reladiff/native >= 10x at 1M rows, >= 6x at 10M; RSS unchanged (native vs text)"
