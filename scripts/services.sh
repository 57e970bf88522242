#!/usr/bin/env bash
# Start PostgreSQL, Redis and a three-master Redis Cluster (ports 7001-7003) on loopback where they
# are not already answering (a fresh CI machine). Installs them from Debian's packages when absent.
# Idempotent and quiet when all is up; callers in parallel (test sessions) wait on one lock.
set -euo pipefail

# the lock is fd 9; every daemon started below closes it (9>&-), or it would hold the lock for ever
exec 9>"${TMPDIR:-/tmp}/townhall-services.lock"
flock 9

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log 9>&-
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  version=$(ls /etc/postgresql | sort -n | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 9>&- || true
  for _ in $(seq 100); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.1; done
  # trust local TCP connections for the test user when the cluster is new
  if ! psql -h 127.0.0.1 -U postgres -c 'select 1' >/dev/null 2>&1; then
    hba=/etc/postgresql/$version/main/pg_hba.conf
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload 9>&-
  fi
fi
# --- Redis Cluster: three masters, no replicas (tests and the cluster contract suite) -----------
CLUSTER_PORTS=(7001 7002 7003)
cluster_ok() {
  local port
  for port in "${CLUSTER_PORTS[@]}"; do
    redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}
wait_cluster_ok() {
  for _ in $(seq "$1"); do cluster_ok && return 0; sleep 0.1; done
  return 1
}
if ! cluster_ok; then
  for port in "${CLUSTER_PORTS[@]}"; do
    if ! redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
      mkdir -p "/var/lib/redis-cluster/$port" /var/log/redis
      redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
        --cluster-enabled yes --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 5000 \
        --dir "/var/lib/redis-cluster/$port" --logfile "/var/log/redis/cluster-$port.log" 9>&-
    fi
  done
  for port in "${CLUSTER_PORTS[@]}"; do
    for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  # nodes restarted from their nodes.conf find each other again; fresh or broken ones are made anew
  fresh=1
  for port in "${CLUSTER_PORTS[@]}"; do
    redis-cli -h 127.0.0.1 -p "$port" cluster info | grep -q '^cluster_slots_assigned:0' || fresh=0
  done
  if [ "$fresh" = 1 ] || ! wait_cluster_ok 50; then
    for port in "${CLUSTER_PORTS[@]}"; do
      redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null 2>&1 || true
      redis-cli -h 127.0.0.1 -p "$port" cluster reset hard >/dev/null
    done
    redis-cli --cluster create 127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003 --cluster-replicas 0 \
      --cluster-yes >/dev/null
    wait_cluster_ok 100 || { echo "redis cluster on 7001-7003 did not come up" >&2; exit 1; }
  fi
fi

redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null
pg_isready -h 127.0.0.1 -p 5432 -q
