#!/usr/bin/env bash
# Follow-up to broker-bench.sh (BENCHMARKS.md, "Broker end to end (issue 4)"): needs .build/release/spate and
# Benchmarks/loadgen/spate-loadgen. Usage: Benchmarks/scripts/broker-e2e-linger.sh > Benchmarks/results/<date>-broker-e2e-linger.txt
# Environment: BROKER_BINARY  the spate to measure (default .build/release/spate)
#              SPECS          "ACKS LINGER" pairs, comma-separated (default "1 0,all 0,1 5,all 5")
set -u
cd "$(dirname "$0")/../.."
d=$(mktemp -d /tmp/spate-bbextra.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
broker="${BROKER_BINARY:-.build/release/spate}"
echo "== e2e extra: $broker, fresh broker, linger.ms 0 vs 5, 5,000 records/s for 10 s, 1 KiB, 1 partition [$(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg)]"
"$broker" serve --data-dir $d/data --listener 127.0.0.1:$port 2>$d/log & bp=$!
sleep 1
L=Benchmarks/loadgen/spate-loadgen
IFS=, read -ra specs <<< "${SPECS:-1 0,all 0,1 5,all 5}"
for spec in "${specs[@]}"; do set -- $spec
  $L create -b 127.0.0.1:$port -t e-$1-$2 -p 1 >/dev/null
  c0=$(awk '{print $14+$15}' /proc/$bp/stat)
  echo "-- acks=$1 linger.ms=$2 [load $(cut -d' ' -f1-3 /proc/loadavg)]"
  timeout 60 $L e2e -b 127.0.0.1:$port -t e-$1-$2 -r 5000 -d 10 -s 1024 -a $1 -l $2 | grep -v "^e2e topic"
  c1=$(awk '{print $14+$15}' /proc/$bp/stat); echo "broker cpu: $(( (c1-c0) ))/100 s over the ~10.5 s run"
done
kill -TERM $bp; wait $bp; rm -rf $d
