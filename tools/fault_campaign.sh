#!/usr/bin/env bash
# A longer fault-injection campaign: one run of tests/fault/fault_run.py per seed over a seed
# range, cycling through fault mixes and cluster sizes. Failing runs keep their directory
# (history, nemesis log, node logs, seed); the summary lists each with its replay command.
#
#   tools/fault_campaign.sh [FIRST_SEED [LAST_SEED]]        default seeds 1000..1019
#   MIXES=wipe NODES=3 DURATION=20 tools/fault_campaign.sh 5000 5029   a wiped node in every run
#
# Env: DURATION (30 s of workload per run), NODES ("3 5"), MIXES (every mix but none),
#      CLIENTS (8), KEYS (4), PORT (25950), BASE_HOST (200), OUT (/tmp/raftd-fault-campaign-<time>),
#      RAFTD_BIN (build/bin/raftd), LINCHECK_BIN (build/bin/lincheck), EXTRA_ARGS (more
#      fault_run.py flags for every run, e.g. "--redirect --quiet 0.2 1 --hold 0.3 1.5").
# Runs one at a time on one port range, so it can share the machine with ctest's fault runs
# (which use 25000-25949 and 127.0.0.101-199, 207-223). Needs root for iptables.
# Run it in the foreground or detached with setsid: if the shell that started it in the
# background exits while the nemesis holds a node with SIGSTOP, the run's process group becomes
# orphaned and the kernel sends the stopped raftd SIGHUP, which kills it ("exited by itself,
# killed by SIGHUP").
set -uo pipefail
cd "$(dirname "$0")/.."
FIRST=${1:-1000}
LAST=${2:-$((FIRST + 19))}
DURATION=${DURATION:-30}
NODES=${NODES:-"3 5"}
MIXES=${MIXES:-"mixed kill-leader partition pause crash bridge partition-leader kill wipe"}
CLIENTS=${CLIENTS:-8}
KEYS=${KEYS:-4}
PORT=${PORT:-25950}
BASE_HOST=${BASE_HOST:-200}
OUT=${OUT:-${TMPDIR:-/tmp}/raftd-fault-campaign-$(date +%Y%m%d-%H%M%S)}
export RAFTD_BIN=${RAFTD_BIN:-build/bin/raftd}
export LINCHECK_BIN=${LINCHECK_BIN:-build/bin/lincheck}

for bin in "$RAFTD_BIN" "$LINCHECK_BIN"; do
  [ -x "$bin" ] || { echo "no $bin: build raftd and lincheck first" >&2; exit 2; }
done
mkdir -p "$OUT"
read -r -a mixes <<<"$MIXES"
read -r -a sizes <<<"$NODES"
results="$OUT/results.jsonl"
: >"$results"

i=0
for seed in $(seq "$FIRST" "$LAST"); do
  mix=${mixes[$((i % ${#mixes[@]}))]}
  nodes=${sizes[$(((i / ${#mixes[@]}) % ${#sizes[@]}))]}
  i=$((i + 1))
  log="$OUT/seed-$seed.log"
  echo "== seed $seed: $nodes nodes, $mix"
  # shellcheck disable=SC2086
  python3 tests/fault/fault_run.py --seed "$seed" --nodes "$nodes" --faults "$mix" \
    --duration "$DURATION" --clients "$CLIENTS" --keys "$KEYS" --port "$PORT" \
    --base-host "$BASE_HOST" --out "$OUT" ${EXTRA_ARGS:-} >"$log" 2>&1
  rc=$?
  result=$(grep '^RESULT ' "$log" | tail -1 | cut -c8-)
  if [ -z "$result" ]; then
    result="{\"seed\": $seed, \"nodes\": $nodes, \"mix\": \"$mix\", \"pass\": false,
             \"failures\": [\"runner exited with $rc and no result\"]}"
  fi
  echo "$result" | tr -d '\n' >>"$results"
  echo >>"$results"
  grep -E '^(workload|checker|wiped node|FAIL)' "$log" | sed 's/^/   /'
done

python3 - "$results" "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [r for r in rows if r.get("pass")]
bad = [r for r in rows if not r.get("pass")]
kinds = {}
for r in rows:
    for k, v in (r.get("fault_kinds") or {}).items():
        kinds[k] = kinds.get(k, 0) + v
print("\ncampaign: %d runs, %d passed, %d failed" % (len(rows), len(ok), len(bad)))
wiped = [r for r in rows if r.get("wiped")]
if wiped:
    print("wiped: %d runs lost a node's data directory (%d nodes in all); verdicts: %s" % (
        len(wiped), sum(len(r["wiped"]) for r in wiped),
        ", ".join("%s %d" % (v, sum(1 for r in wiped if r.get("verdict") == v))
                  for v in sorted(set(r.get("verdict") for r in wiped)))))
print("checked: %d ops (%d ok, %d fail, %d unknown); %d faults (%s)" % (
    sum(r.get("ops", 0) for r in rows), sum(r.get("ok", 0) for r in rows),
    sum(r.get("fail", 0) for r in rows), sum(r.get("unknown", 0) for r in rows),
    sum(r.get("faults", 0) for r in rows),
    ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
for r in bad:
    print("FAILED seed %s (%s nodes, %s): %s" % (r["seed"], r.get("nodes"), r.get("mix"),
                                                 "; ".join(r.get("failures", []))[:300]))
    log = "%s/seed-%s.log" % (sys.argv[2], r["seed"])
    print("   kept: %s   log: %s" % (r.get("dir"), log))
    for line in open(log, errors="replace"):
        if line.startswith("replay: "):
            print("   " + line.strip())
            break
sys.exit(1 if bad else 0)
PY
