#!/usr/bin/env bash
# Follow-up to broker-bench.sh (BENCHMARKS.md, "Broker end to end (issue 4)"): needs .build/release/spate and
# Benchmarks/loadgen/spate-loadgen. Usage: Benchmarks/scripts/broker-perf-linger0.sh > Benchmarks/results/<date>-broker-perf-linger0.txt
# Environment: BROKER_BINARY  the spate to profile (default .build/release/spate)
set -u
cd "$(dirname "$0")/../.."
d=$(mktemp -d /tmp/spate-bbperf.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "== perf of the broker during e2e acks=1 linger.ms=0 at 5,000 records/s (1 KiB, 1 partition) [$(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg)]"
"${BROKER_BINARY:-.build/release/spate}" serve --data-dir $d/data --listener 127.0.0.1:$port 2>$d/log & bp=$!
sleep 1
L=Benchmarks/loadgen/spate-loadgen
$L create -b 127.0.0.1:$port -t e -p 1 >/dev/null
timeout 60 $L e2e -b 127.0.0.1:$port -t e -r 5000 -d 10 -s 1024 -a 1 -l 0 > $d/e2e.txt 2>&1 & lp=$!
sleep 3
{ perf record -F 499 -g -p $bp -o $d/perf.data -- sleep 4; } 2>&1 | tail -1
wait $lp; grep -v "^e2e topic" $d/e2e.txt
perf report -i $d/perf.data --stdio --no-children --percent-limit 1 -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | cut -c1-160 | head -40
echo "-- by shared object --"
perf report -i $d/perf.data --stdio --no-children --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -10
echo "-- by thread --"
perf report -i $d/perf.data --stdio --no-children --sort comm -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -10
kill -TERM $bp; wait $bp; rm -rf $d
