#!/usr/bin/env bash
# Repair (issue 26): a patch for 1,000 differing rows of a 1,000,000-row table (pgbench -s 10
# `pgbench_accounts`; 400 updated, 300 deleted and 300 inserted on the target), built and
# applied by the library (`reconcile_bench repair`): the check, the build and the apply timed
# apart, the check's verdict afterwards. Targets: build < 2 s, apply < 2 s.
#
#   benches/repair.sh [ROUNDS]     (default 3; the target is reloaded between rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
. benches/pair.sh
start_pair shared_buffers=256MB max_wal_size=4GB
for port in "$SOURCE_PORT" "$TARGET_PORT"; do
  psql_on "$port" postgres "create database bench"
  "$PGBIN/pgbench" -i -s 10 -q -h 127.0.0.1 -p "$port" -U postgres bench >/dev/null 2>&1 &
done
wait
SRC="host=127.0.0.1 port=$SOURCE_PORT user=postgres dbname=bench"
TGT="host=127.0.0.1 port=$TARGET_PORT user=postgres dbname=bench"
for r in $(seq "$ROUNDS"); do
  psql_on "$TARGET_PORT" bench "
    update pgbench_accounts set abalance = abalance + $r, filler = 'x$r' where aid % 2500 = 1;
    delete from pgbench_accounts where aid % 3333 = 2 and aid <= 999000;
    insert into pgbench_accounts select 1000000 + $r * 1000 + g, 1, 0, '' from generate_series(1, 300) g;"
  "$BENCH" repair "$SRC" "$TGT" public.pgbench_accounts aid
done
