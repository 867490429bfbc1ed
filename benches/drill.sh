#!/usr/bin/env bash
# Time from `cutover drill` to the cockpit's first frame (target: < 10 s on a 2-core machine),
# and from SIGTERM to the drill having exited with everything cleaned up.
#
#   benches/drill.sh                 # release build, default --rows 200000, 3 runs
#   RUNS=5 ROWS=20000 PROFILE=debug benches/drill.sh
#
# Each run starts the real binary in a pseudo-terminal, timestamps the first frame (the
# cockpit's "STEPS" pane title on screen) and the plan shown (the first step id on screen),
# then sends SIGTERM (the cockpit ends the run and
# the drill removes its clusters) and times the exit. The drill's own set-up stage lines
# (printed before the cockpit opens) are shown for the first run.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
RUNS=${RUNS:-3}
ROWS=${ROWS:-200000}
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/cutover
else
  cargo build --quiet
  BIN=$PWD/target/debug/cutover
fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $PROFILE build; --rows $ROWS"
python3 - "$BIN" "$RUNS" "$ROWS" <<'PY'
import fcntl, os, shutil, pty, select, signal, struct, sys, tempfile, termios, time

bin_, runs, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3]
firsts, plans, cleanups = [], [], []
for i in range(runs):
    cwd = tempfile.mkdtemp(prefix="cutover-drill-bench-")
    t0 = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.environ["TERM"] = "xterm-256color"
        os.execv(bin_, [bin_, "drill", "--rows", rows])
    buf, first, plan = b"", None, None
    deadline = t0 + 60
    while plan is None and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            if first is None and b"STEPS" in buf:
                first = time.monotonic() - t0
            if b"preflight-source-version" in buf:
                plan = time.monotonic() - t0
    if plan is None:
        print(f"run {i + 1}: no first frame with the plan within 60 s; output:\n{buf.decode(errors='replace')}")
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        sys.exit(1)
    if i == 0:
        pre = buf.split(b"\x1b[?1049h")[0].decode(errors="replace")
        for line in pre.replace("\r", "").splitlines():
            if line.startswith("cutover drill"):
                print("  " + line)
    t1 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while True:
        try:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r and not os.read(fd, 65536):
                break
        except OSError:
            break
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    else_status = os.waitpid(pid, 0)[1] if not done else status
    cleanup = time.monotonic() - t1
    shutil.rmtree(cwd, ignore_errors=True)
    firsts.append(first)
    plans.append(plan)
    cleanups.append(cleanup)
    code = os.waitstatus_to_exitcode(else_status)
    print(f"run {i + 1}: first frame {first:5.2f} s · plan shown {plan:5.2f} s · SIGTERM to exit (clusters removed) {cleanup:5.2f} s · exit {code}")
firsts.sort()
plans.sort()
print(f"first frame: median {firsts[len(firsts) // 2]:.2f} s, worst {firsts[-1]:.2f} s (target < 10 s)")
print(f"plan shown:  median {plans[len(plans) // 2]:.2f} s, worst {plans[-1]:.2f} s")
PY
