#!/usr/bin/env bash
# A network namespace joined to the host by a veth pair whose links are capped with `tc tbf`
# (this kernel has no netem: latency is added by the emulator itself).
#   netns.sh up NAME RATE      e.g. netns.sh up ossbench 2gbit  -> host 10.77.0.1, ns 10.77.0.2
#   netns.sh down NAME
#   netns.sh exec NAME CMD...  runs CMD inside the namespace
set -euo pipefail
cmd=${1:?usage: netns.sh up|down|exec NAME [RATE|CMD...]}
name=${2:?namespace name}
host_if="${name:0:10}-h"
ns_if="${name:0:10}-n"
host_ip=${OSSBENCH_HOST_IP:-10.77.0.1}
ns_ip=${OSSBENCH_NS_IP:-10.77.0.2}

case $cmd in
  up)
    rate=${3:-2gbit}
    ip netns del "$name" 2>/dev/null || true
    ip link del "$host_if" 2>/dev/null || true
    ip netns add "$name"
    ip link add "$host_if" type veth peer name "$ns_if"
    ip link set "$ns_if" netns "$name"
    ip addr add "$host_ip/24" dev "$host_if"
    ip link set "$host_if" up
    ip netns exec "$name" ip addr add "$ns_ip/24" dev "$ns_if"
    ip netns exec "$name" ip link set "$ns_if" up
    ip netns exec "$name" ip link set lo up
    # Cap both directions. The burst must hold at least one timer tick of traffic at the rate.
    for spec in "host $host_if" "ns $ns_if"; do
      set -- $spec
      if [[ $1 == host ]]; then pre=(); else pre=(ip netns exec "$name"); fi
      "${pre[@]}" tc qdisc replace dev "$2" root tbf rate "$rate" burst 4mb latency 100ms
    done
    echo "netns $name up: host $host_ip <-> ns $ns_ip, $rate each way"
    ;;
  down)
    ip netns del "$name" 2>/dev/null || true
    ip link del "$host_if" 2>/dev/null || true
    ;;
  exec)
    shift 2
    exec ip netns exec "$name" "$@"
    ;;
  *)
    echo "usage: netns.sh up|down|exec NAME ..." >&2
    exit 2
    ;;
esac
