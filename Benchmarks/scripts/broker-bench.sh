#!/usr/bin/env bash
# End-to-end broker benchmark (BENCHMARKS.md, "Broker end to end (issue 4)"): machine limits (iperf3 loopback,
# dd disk) and, against a release `spate serve`, idle RSS, produce throughput (1 KiB records, 1 and 8 partitions,
# acks=1 and acks=all) with the broker's CPU use and a perf profile, RSS under load, consume throughput, end-to-end
# latency at a fixed rate, and start-up time with 1,000 partitions on disk.
#
# Usage: Benchmarks/scripts/broker-bench.sh [output-file]      (run from anywhere; builds what it needs)
# Environment: SPATE_BENCH_DIR  where data dirs and the dd file go (default: /tmp; the same disk as the data dir)
#              RECORDS          records per produce run (default 300000, i.e. ~307 MB of 1 KiB values)
#              SKIP_BUILD=1     use the existing .build/release/spate
#              BROKER_BINARY    measure this spate binary instead (implies SKIP_BUILD; not SPATE_*, which spate
#                               serve reads as settings), e.g. one built with
#                               `swift build -c release --product spate --static-swift-stdlib --scratch-path DIR`
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-}"
base="${SPATE_BENCH_DIR:-/tmp}"
records="${RECORDS:-300000}"
work="$(mktemp -d "$base/spate-brokerbench.XXXXXX")"
loadgen="$root/Benchmarks/loadgen/spate-loadgen"
spate="${BROKER_BINARY:-$root/.build/release/spate}"
broker_pid=""
sampler_pid=""

cleanup() {
    [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null
    [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

[ -n "$out" ] && exec > >(tee "$out") 2>&1

say() { echo "== $* [$(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg)]"; }

# ---- tools ----
need=()
[ -f /usr/include/librdkafka/rdkafka.h ] || need+=(librdkafka-dev)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v perf >/dev/null || need+=(linux-perf)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
make -s -C "$root/Benchmarks/loadgen" || exit 1
if [ "${SKIP_BUILD:-0}" != 1 ] && [ -z "${BROKER_BINARY:-}" ]; then
    # Built as the README builds the broker it runs.
    say "swift build -c release --static-swift-stdlib -Xswiftc -Osize --product spate"
    (cd "$root" && swift build -c release --static-swift-stdlib -Xswiftc -Osize --product spate 2>&1 | tail -3) || exit 1
fi

say "machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "kernel: $(uname -r); cpus: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "memory: $(free -m | awk '/Mem:/ {print $2 " MiB"}')"
echo "data disk: $work ($(df --output=source,fstype "$work" | tail -1 | tr -s ' '))"
echo "librdkafka: $(dpkg-query -W -f='${Version}' librdkafka-dev 2>/dev/null); spate: $(cd "$root" && git rev-parse --short HEAD) ($spate)"

# ---- limits ----
say "limit: iperf3 loopback (127.0.0.1, 5 s, 1 stream)"
iperf_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iperf3 -s -1 -B 127.0.0.1 -p "$iperf_port" >/dev/null 2>&1 &
iperf_pid=$!
sleep 0.5
iperf3 -c 127.0.0.1 -p "$iperf_port" -t 5 -f m | grep -E 'sender|receiver'
wait "$iperf_pid"
say "limit: dd (512 MiB into $work)"
"$root/Benchmarks/scripts/disk-limits.sh" "$work" 512

# ---- broker helpers ----
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }
hz=$(getconf CLK_TCK)

# start_broker DATA_DIR: starts spate serve on a free port, waits for "Spate broker started"; sets broker_pid, port,
# start_wall_ms (exec to the line, polled every 5 ms) and startup_ms (the broker's own spate.startup_ms).
start_broker() {
    port=$(free_port)
    local log="$work/broker.$port.log"
    local t0=$(date +%s%N)
    "$spate" serve --data-dir "$1" --listener "127.0.0.1:$port" 2>"$log" &
    broker_pid=$!
    for _ in $(seq 1 6000); do
        if grep -q "Spate broker started" "$log"; then break; fi
        sleep 0.005
    done
    local t1=$(date +%s%N)
    start_wall_ms=$(( (t1 - t0) / 1000000 ))
    startup_ms=$(grep -m1 "Spate broker started" "$log" | sed -E 's/.*spate.startup_ms=([0-9]+).*/\1/')
    partitions_loaded=$(grep -m1 "Spate broker started" "$log" | sed -E 's/.*spate.partitions=([0-9]+).*/\1/')
    [ -n "$startup_ms" ] || { echo "broker did not start:"; cat "$log"; exit 1; }
}
stop_broker() {
    local t0=$(date +%s%N)
    kill -TERM "$broker_pid"; wait "$broker_pid"
    echo "graceful stop: rc $? in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
    broker_pid=""
}
lg() { timeout 300 "$loadgen" "$@" -b "127.0.0.1:$port"; }

# ---- main broker ----
say "start broker (fresh data dir)"
start_broker "$work/data"
echo "started: pid $broker_pid port $port, exec->log line ${start_wall_ms} ms, spate.startup_ms ${startup_ms}"
sleep 2
echo "idle RSS (2 s after start, no clients): $(rss_kb "$broker_pid") kB"

# RSS sampler (every 100 ms) for the load phase
rss_log="$work/rss.txt"
( while kill -0 "$broker_pid" 2>/dev/null; do rss_kb "$broker_pid" >> "$rss_log"; sleep 0.1; done ) &
sampler_pid=$!

# produce_run TOPIC PARTITIONS ACKS: creates the topic, produces $records 1 KiB records; prints the loadgen's figures
# and the broker's and the loadgen's CPU use over the run (CPU seconds / wall seconds; 100% = one core).
produce_run() {
    lg create -t "$1" -p "$2" >/dev/null || { echo "create $1 failed"; return; }
    local c0=$(cpu_ticks "$broker_pid") t0=$(date +%s%N)
    /usr/bin/time -f "loadgen cpu: user %U s sys %S s wall %e s (%P)" "$loadgen" produce -b "127.0.0.1:$port" \
        -t "$1" -n "$records" -s 1024 -a "$3" -l 5 -B 1000000
    local c1=$(cpu_ticks "$broker_pid") t1=$(date +%s%N)
    awk -v c=$((c1 - c0)) -v hz="$hz" -v w=$((t1 - t0)) \
        'BEGIN { printf "broker cpu: %.2f s over %.2f s wall = %.0f%% of one core\n", c/hz, w/1e9, 100*c/hz/(w/1e9) }'
}

for spec in "1 1" "1 all" "8 1" "8 all"; do
    set -- $spec
    say "produce: $records x 1 KiB, $1 partition(s), acks=$2"
    produce_run "p$1-acks$2" "$1" "$2"
done

say "profile: perf record -g on the broker during a produce run (8 partitions, acks=1, 1,000,000 records)"
lg create -t profile -p 8 >/dev/null
"$loadgen" produce -b "127.0.0.1:$port" -t profile -n 1000000 -s 1024 -a 1 -l 5 > "$work/profile-produce.txt" 2>&1 &
lg_pid=$!
sleep 0.5
# top and perf side by side (run one after the other, perf can miss the end of a fast run).
top -b -d 1 -n 4 -p "$broker_pid,$lg_pid" > "$work/top.txt" &
top_pid=$!
{ perf record -F 499 -g -p "$broker_pid" -o "$work/perf.data" -- sleep 4; } 2>&1 | tail -2
wait "$top_pid"
grep -E "^ *($broker_pid|$lg_pid) " "$work/top.txt" | sed "s/^/top: /"
wait "$lg_pid"
cat "$work/profile-produce.txt"
perf report -i "$work/perf.data" --stdio --no-children --percent-limit 1.5 -g none 2>/dev/null | grep -v '^$' | head -60
echo "-- by shared object --"
perf report -i "$work/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12

for t in p1-acks1 p8-acks1 p8-acksall; do
    say "consume: $records records from $t (assigned, from the beginning, fetch.max.bytes 50 MiB)"
    /usr/bin/time -f "loadgen cpu: user %U s sys %S s wall %e s (%P)" "$loadgen" consume -b "127.0.0.1:$port" -t "$t" -n "$records"
done
# One librdkafka consumer tops out at ~450-750k records/s of 1 KiB (its per-message cost), below what the broker
# serves: two load-generator processes reading the same topic at once (their MB/s added), and large records.
say "consume: $records records from p1-acks1 by two load-generator processes at once (MB/s summed)"
two=()
for k in 1 2; do "$loadgen" consume -b "127.0.0.1:$port" -t p1-acks1 -n "$records" > "$work/two-$k.txt" 2>&1 & two+=($!); done
wait "${two[@]}"  # not a bare wait: the RSS sampler runs in the background until the broker stops
cat "$work/two-1.txt" "$work/two-2.txt"
sed -nE 's/.*, ([0-9.]+) MB\/s \(from assignment\).*/\1/p' "$work/two-1.txt" "$work/two-2.txt" \
    | awk '{ s += $1 } END { printf "two consumers together: %.1f MB/s\n", s }'
say "consume: 20,000 x 64 KiB records (1.3 GB, 1 partition), fetch.max.bytes 50 MiB"
lg create -t big -p 1 >/dev/null
lg produce -t big -n 20000 -s 65536 -a 1 -l 5 -B 1000000 | tail -1
lg consume -t big -n 20000
echo "1,000,000-record topic (1 GB, 8 partitions, not all in page cache?):"
c0=$(cpu_ticks "$broker_pid"); t0=$(date +%s%N)
lg consume -t profile -n 1000000
c1=$(cpu_ticks "$broker_pid"); t1=$(date +%s%N)
awk -v c=$((c1 - c0)) -v hz="$hz" -v w=$((t1 - t0)) \
    'BEGIN { printf "broker cpu: %.2f s over %.2f s wall = %.0f%% of one core\n", c/hz, w/1e9, 100*c/hz/(w/1e9) }'

for a in 1 all; do
    say "e2e latency: 5,000 records/s for 10 s, 1 KiB, 1 partition, acks=$a, linger.ms=0"
    lg create -t "e2e-acks$a" -p 1 >/dev/null
    lg e2e -t "e2e-acks$a" -r 5000 -d 10 -s 1024 -a "$a" -l 0
done

kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null; sampler_pid=""
say "RSS under load"
echo "max VmRSS during produce/consume/e2e: $(sort -n "$rss_log" | tail -1) kB ($(wc -l < "$rss_log") samples every 100 ms)"
echo "VmRSS after load: $(rss_kb "$broker_pid") kB; VmHWM: $(awk '/VmHWM/ {print $2}' /proc/$broker_pid/status) kB"
sleep 5
echo "VmRSS 5 s after load: $(rss_kb "$broker_pid") kB"
stop_broker

# ---- start-up with 1,000 partitions ----
say "start-up: fresh broker, topic with 1,000 partitions, 100,000 x 1 KiB records (100 per partition)"
start_broker "$work/data1000"
lg create -t many -p 1000
lg produce -t many -n 100000 -s 1024 -a 1 | head -2
echo "VmRSS with 1,000 partitions: $(rss_kb "$broker_pid") kB"
stop_broker
echo "on disk: $(du -sh "$work/data1000" | cut -f1), $(find "$work/data1000" -type f | wc -l) files"
for i in 1 2 3 4 5; do
    sync
    start_broker "$work/data1000"
    echo "restart $i: partitions $partitions_loaded, spate.startup_ms ${startup_ms}, exec->log line ${start_wall_ms} ms (5 ms polling), idle VmRSS after 1 s: $(sleep 1; rss_kb "$broker_pid") kB"
    stop_broker
done
echo "cold cache (echo 3 > drop_caches) restart:"
sync; if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
    start_broker "$work/data1000"
    echo "cold restart: partitions $partitions_loaded, spate.startup_ms ${startup_ms}, exec->log line ${start_wall_ms} ms"
    stop_broker
else echo "(drop_caches not permitted)"; fi
say "done"
