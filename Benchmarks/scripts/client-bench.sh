#!/usr/bin/env bash
# Client benchmark (BENCHMARKS.md, "Client (issue 6)"): `spate bench` (SpateClient) next to the librdkafka load
# generator (Benchmarks/loadgen/spate-loadgen.c) against one release `spate serve` on a fresh data dir: produce
# 1 KiB records to 1 and 8 partitions with acks=1 and acks=all, then consume topics of 1 and 8 partitions from the
# beginning. The two clients alternate, run by run, so that both see the same machine load; the table shows the
# median records/s of each and the ratio of the medians (Swift / librdkafka).
#
# Both producers get the same settings: linger 5 ms, 1 MB batches, no compression. librdkafka spreads records
# round-robin over the partitions (partition = i mod n); spate bench leaves keyless records to the producer's sticky
# partitioner (KIP-480), as an application would. Consumers: the load generator fetches up to 50 MiB per request and
# 10 MiB per partition, and so does spate bench consume by default (since 2026-11-22; before, it used the client's
# defaults, Kafka's 50 MiB and 1 MiB). SB_CONSUME_ARGS adds options (e.g. SB_CONSUME_ARGS="--max-partition-bytes
# 1048576" for Kafka's default per partition).
#
# Usage: Benchmarks/scripts/client-bench.sh [output-file]
# Environment: RECORDS      records per run (default 300000, ~307 MB of values)
#              REPEAT       runs of each client per case (default 3)
#              SKIP_BUILD=1 use the existing .build/release/spate
#              SPATE        another spate binary to measure (e.g. an older build, for a before/after table)
#              SPATE_BENCH_DIR  where the broker's data dir goes (default /tmp)
#              SB_CONSUME_ARGS  extra options for spate bench consume
#              CASES        which cases to run: "all" (default), "produce" or "consume" (consume alone first
#                           produces its 1- and 8-partition topics with the load generator, acks=1, untimed)
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-}"
records="${RECORDS:-300000}"
repeat="${REPEAT:-3}"
work="$(mktemp -d "${SPATE_BENCH_DIR:-/tmp}/spate-clientbench.XXXXXX")"
loadgen="$root/Benchmarks/loadgen/spate-loadgen"
server="$root/.build/release/spate"
spate="${SPATE:-$server}"
broker_pid=""

cleanup() {
    [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
[ -n "$out" ] && exec > >(tee "$out") 2>&1
say() { echo "== $* [$(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg)]"; }

if [ ! -f /usr/include/librdkafka/rdkafka.h ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq librdkafka-dev >/dev/null
fi
make -s -C "$root/Benchmarks/loadgen" || exit 1
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    # Built as the README builds the broker it runs.
    say "swift build -c release --static-swift-stdlib -Xswiftc -Osize --product spate"
    (cd "$root" && swift build -c release --static-swift-stdlib -Xswiftc -Osize --product spate 2>&1 | tail -3) || exit 1
fi

say "machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "kernel: $(uname -r); cpus: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "librdkafka: $(dpkg-query -W -f='${Version}' librdkafka-dev 2>/dev/null); spate: $(cd "$root" && git rev-parse --short HEAD)"
echo "broker: $server; client: $spate; records per run: $records; runs per client and case: $repeat"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$server" serve --data-dir "$work/data" --listener "127.0.0.1:$port" 2>"$work/broker.log" &
broker_pid=$!
for _ in $(seq 1 2000); do grep -q "Spate broker started" "$work/broker.log" && break; sleep 0.01; done
grep -q "Spate broker started" "$work/broker.log" || { cat "$work/broker.log"; exit 1; }
brokers="127.0.0.1:$port"

# Settings equal to the load generator's, where this spate binary has the options (older builds do not).
produce_extra=() consume_extra=()
"$spate" bench produce --help 2>&1 | grep -q -- '--batch-size' && produce_extra=(--linger-ms 5 --batch-size 1000000)
read -r -a consume_extra <<< "${SB_CONSUME_ARGS:-}"

# Each run prints one records/s figure (or "fail").
lg_produce() { # topic partitions acks
    timeout 300 "$loadgen" create -b "$brokers" -t "$1" -p "$2" >/dev/null || { echo fail; return; }
    timeout 300 "$loadgen" produce -b "$brokers" -t "$1" -n "$records" -s 1024 -a "$3" -l 5 -B 1000000 \
        | sed -nE 's/^produce: delivered .* s: ([0-9]+) records\/s.*/\1/p' | grep . || echo fail
}
sb_produce() { # topic partitions acks
    timeout 300 "$spate" bench produce --brokers "$brokers" --topic "$1" --partitions "$2" --acks "$3" \
        --records "$records" --record-size 1024 "${produce_extra[@]}" --json \
        | sed -nE 's/.*"records_per_sec":([0-9]+).*/\1/p' | grep . || echo fail
}
lg_consume() { # topic
    timeout 300 "$loadgen" consume -b "$brokers" -t "$1" -n "$records" \
        | sed -nE 's/^consume: ([0-9]+) records\/s.*/\1/p' | grep . || echo fail
}
sb_consume() { # topic
    timeout 300 "$spate" bench consume --brokers "$brokers" --topic "$1" --records "$records" --timeout 10 \
        "${consume_extra[@]}" --json | sed -nE 's/.*"records_per_sec":([0-9]+).*/\1/p' | grep . || echo fail
}
median() { tr ' ' '\n' | grep -E '^[0-9]+$' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }
drop() { "$server" topic delete "$1" --brokers "$brokers" >/dev/null 2>&1; }

rows=()
row() { # label lg-runs sb-runs
    local lm sm
    lm=$(echo "$2" | median) sm=$(echo "$3" | median)
    rows+=("$(awk -v l="$1" -v a="$2" -v b="$3" -v lm="$lm" -v sm="$sm" 'BEGIN {
        printf "| %s | %s | %s | %s | %s | %s |", l, lm, a, sm, b, (lm > 0 ? sprintf("%.0f%%", 100 * sm / lm) : "-") }')")
}

cases="${CASES:-all}"
case "$cases" in all | produce | consume) ;; *) echo "CASES must be all, produce or consume" >&2; exit 2 ;; esac
if [ "$cases" = consume ]; then
    for p in 1 8; do
        say "consume only: producing topic lg-p$p-a1-1 ($p partition(s)) with librdkafka, untimed"
        r=$(lg_produce "lg-p$p-a1-1" "$p" 1); [ "$r" = fail ] && { echo "cannot produce lg-p$p-a1-1"; exit 1; }
    done
fi

for spec in "1 1" "1 all" "8 1" "8 all"; do
    [ "$cases" = consume ] && break
    set -- $spec
    lg_runs="" sb_runs=""
    for i in $(seq 1 "$repeat"); do
        say "produce, $1 partition(s), acks=$2, run $i: librdkafka"
        r=$(lg_produce "lg-p$1-a$2-$i" "$1" "$2"); echo "librdkafka: $r records/s"; lg_runs="$lg_runs $r"
        say "produce, $1 partition(s), acks=$2, run $i: spate bench"
        r=$(sb_produce "sb-p$1-a$2-$i" "$1" "$2"); echo "spate bench: $r records/s"; sb_runs="$sb_runs $r"
        # Keep the first run's topics for the consume runs; drop the others (disk space).
        if [ "$i" -gt 1 ]; then drop "lg-p$1-a$2-$i"; drop "sb-p$1-a$2-$i"; fi
    done
    row "produce, $1 partition(s), acks=$2" "${lg_runs# }" "${sb_runs# }"
done

for p in 1 8; do
    [ "$cases" = produce ] && break
    lg_runs="" sb_runs=""
    for i in $(seq 1 "$repeat"); do
        say "consume, $p partition(s), run $i: librdkafka"
        r=$(lg_consume "lg-p$p-a1-1"); echo "librdkafka: $r records/s"; lg_runs="$lg_runs $r"
        say "consume, $p partition(s), run $i: spate bench"
        r=$(sb_consume "lg-p$p-a1-1"); echo "spate bench: $r records/s"; sb_runs="$sb_runs $r"
    done
    row "consume, $p partition(s)" "${lg_runs# }" "${sb_runs# }"
done

say "summary (records/s of 1 KiB records; median of $repeat runs; ratio = spate bench / librdkafka)"
echo "| case | librdkafka (median) | librdkafka runs | spate bench (median) | spate bench runs | ratio |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
