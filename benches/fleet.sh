#!/usr/bin/env bash
# A fleet's overhead (issue 29), through the release binary, headless:
#   200 members of a shell-only runbook (3 steps, the middle one `sleep 1`), concurrency 50.
#   - fleet wall time ÷ the slowest member's own run time (from its journal): target < 1.2x;
#     the ideal is 4 waves (200 / 50), so the ratio is printed against 4 × the slowest member
#     too (what the scheduling itself costs);
#   - peak RSS of the fleet process (it hosts every member's engine): target < 200 MB.
#   benches/fleet.sh [MEMBERS] [CONCURRENCY]     (default 200 50)
set -euo pipefail
cd "$(dirname "$0")/.."
MEMBERS=${1:-200}
CONCURRENCY=${2:-50}
. benches/release.sh
WORK=$(mktemp -d /tmp/cutover-fleet-bench.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
cp benches/fleet_runbook.toml "$WORK/rb.toml"
cd "$WORK"
{
  echo "concurrency = $CONCURRENCY"
  for i in $(seq -w 1 "$MEMBERS"); do
    printf '\n[[member]]\nname = "shard-%s"\nvars = { n = "%s" }\n' "$i" "$i"
  done
} > fleet.toml
echo "== $MEMBERS members, concurrency $CONCURRENCY"
/usr/bin/time -v "$CUTOVER" run rb.toml --fleet fleet.toml --headless --journal fj.jsonl \
  > out.txt 2> time.txt || { tail -20 time.txt; exit 1; }
python3 - "$MEMBERS" "$CONCURRENCY" <<'PY'
import json, sys, glob, datetime, re
members, conc = int(sys.argv[1]), int(sys.argv[2])
def ts(s): return datetime.datetime.fromisoformat(s.replace('Z', '+00:00'))
fleet = [json.loads(l) for l in open('fj.jsonl')]
wall = (ts(fleet[-1]['ts']) - ts(fleet[0]['ts'])).total_seconds()
longest = 0.0
times = []
for j in glob.glob('fj.members/*.jsonl'):
    recs = [json.loads(l) for l in open(j)]
    start = next(ts(r['ts']) for r in recs if r['type'] == 'run_started')
    end = next(ts(r['ts']) for r in recs if r['type'] == 'run_finished')
    times.append((end - start).total_seconds())
    longest = max(longest, times[-1])
times.sort()
median = times[len(times) // 2]
done = sum(1 for r in fleet if r['type'] == 'member_finished' and r['outcome'] == 'completed')
waves = -(-members // conc)
rss = int(re.search(r'Maximum resident set size \(kbytes\): (\d+)', open('time.txt').read()).group(1))
print(f"members completed:          {done}/{members}")
print(f"fleet wall time:            {wall:.2f} s")
print(f"slowest member:             {longest:.2f} s")
print(f"fleet ÷ slowest member:     {wall / longest:.2f}x  ({waves} waves of {conc}: ideal {waves:.0f}x)")
print(f"median member:              {median:.2f} s")
print(f"fleet ÷ (waves × slowest):  {wall / (waves * longest):.2f}x  (target < 1.2x)")
print(f"fleet ÷ (waves × median):   {wall / (waves * median):.2f}x")
print(f"peak RSS of the fleet:      {rss / 1024:.1f} MB  (target < 200 MB)")
PY
