#!/bin/sh
# keepalived (as a daemon, config section @$GATEWAY_ID) then HAProxy in the foreground in
# master-worker mode (-W), so `docker stop` reaches it and its exit ends the container.
set -eu
: "${GATEWAY_ID:?set GATEWAY_ID to gw1 or gw2 (the @gw1/@gw2 lines of keepalived.conf)}"
if [ "${KEEPALIVED:-1}" = 1 ]; then
  # A container started again keeps its files: the pid files of the keepalived that was
  # killed name a pid some process of this new run may hold, and keepalived would exit
  # with "daemon is already running", leaving this gateway out of VRRP for good (seen
  # in the chaos run: the next failover found no one to take the VIP).
  rm -f /run/keepalived.pid /run/vrrp.pid /run/checkers.pid
  echo "gateway: keepalived -i $GATEWAY_ID"
  # In the foreground (-n) behind this shell, so its log reaches the container's output.
  keepalived --dont-fork --log-console --log-detail -i "$GATEWAY_ID" &
fi
echo "gateway: haproxy"
exec haproxy -W -db -f /etc/haproxy/haproxy.cfg
