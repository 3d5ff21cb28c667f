#!/usr/bin/env bash
# Single node: raftd (its own Raft log, fsynced per batch) against redis-server.
# REDIS_AOF=no (default) compares with redis without persistence, the foundation's baseline;
# REDIS_AOF=always with the same durability as raftd. See compare.sh for every knob.
exec env NODES=1 "$(dirname "$0")/compare.sh" "$@"
