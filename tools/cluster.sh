#!/usr/bin/env bash
# Starts, stops or inspects a local 3-node raftd cluster on 127.0.0.1.
#   tools/cluster.sh start    nodes on client ports 7001, 7002, 7003 (peers on 7002.. +1: see below)
#   tools/cluster.sh status   role and leader of each node
#   tools/cluster.sh stop     SIGTERM to each node (a leader hands over first), waits for exit
# Client ports are BASE, BASE+10, BASE+20 (peers listen on port+1). Data and logs live in
# $CLUSTER_DIR (default ./cluster). Env: BASE (7001), NODES (3), RAFTD_BIN (build/bin/raftd),
# RAFTD_ARGS (extra flags for every node).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-7001}
NODES=${NODES:-3}
RAFTD_BIN=${RAFTD_BIN:-build/bin/raftd}
CLUSTER_DIR=${CLUSTER_DIR:-cluster}

ports() { for i in $(seq 0 $((NODES - 1))); do echo $((BASE + 10 * i)); done; }

start() {
  [ -x "$RAFTD_BIN" ] || { echo "no $RAFTD_BIN: build first (cmake --build build)" >&2; exit 1; }
  mkdir -p "$CLUSTER_DIR"
  local all=() p
  for p in $(ports); do all+=("127.0.0.1:$p"); done
  for p in $(ports); do
    local pidfile="$CLUSTER_DIR/$p.pid"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "node $p already running (pid $(cat "$pidfile"))"
      continue
    fi
    local others
    others=$(printf '%s\n' "${all[@]}" | grep -v ":$p\$" | paste -sd, -)
    # shellcheck disable=SC2086
    nohup "$RAFTD_BIN" -a "127.0.0.1:$p" -e "$others" -d "$CLUSTER_DIR/$p" \
      --log-file "$CLUSTER_DIR/$p.log" ${RAFTD_ARGS:-} >"$CLUSTER_DIR/$p.out" 2>&1 &
    echo $! >"$pidfile"
  done
  for p in $(ports); do
    for _ in $(seq 1 100); do
      redis-cli -p "$p" PING >/dev/null 2>&1 && break
      sleep 0.1
    done
  done
  for _ in $(seq 1 100); do
    status | grep -q "role=leader" && break
    sleep 0.1
  done
  status
  echo "try: redis-cli -p $BASE set hello world; redis-cli -p $((BASE + 10)) get hello"
}

status() {
  local p
  for p in $(ports); do
    local info
    if info=$(redis-cli -p "$p" INFO raft 2>/dev/null | tr -d '\r'); then
      echo "127.0.0.1:$p role=$(sed -n 's/^raft_role://p' <<<"$info")" \
        "term=$(sed -n 's/^raft_current_term://p' <<<"$info")" \
        "leader=$(sed -n 's/^raft_leader_addr://p' <<<"$info")" \
        "commit=$(sed -n 's/^raft_commit_index://p' <<<"$info")"
    else
      echo "127.0.0.1:$p down"
    fi
  done
}

stop() {
  local p
  for p in $(ports); do
    local pidfile="$CLUSTER_DIR/$p.pid"
    [ -f "$pidfile" ] || continue
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && { echo "node $p did not stop; killing"; kill -KILL "$pid"; }
    fi
    rm -f "$pidfile"
    echo "stopped 127.0.0.1:$p"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart) stop; start ;;
  *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
