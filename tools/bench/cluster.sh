#!/usr/bin/env bash
# A 3-node raftd cluster (fsync on every batch on every node), load on the leader, against
# redis-server with appendonly yes + appendfsync always. Targets at -P 1: writes >= 0.5 and
# linearizable reads >= 0.8 of redis-server's. See compare.sh for every knob.
exec env NODES=${NODES:-3} REDIS_AOF=${REDIS_AOF:-always} TARGETS=${TARGETS:-"GET:1:0.8 SET:1:0.5"} \
  "$(dirname "$0")/compare.sh" "$@"
