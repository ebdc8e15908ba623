#!/usr/bin/env bash
# A/B(/C) of the 16 KiB flush-off append loop (StorageRecovery, STORAGE_RECOVERY_ONLY=append: 6 × 512 MiB per run),
# alternating builds and settings round by round (the order reverses every other round), with dd bs=16733 into the
# page cache and dd bs=1M oflag=direct (512 MiB each) at the start of every round and at the end.
# Usage: Benchmarks/scripts/storage-append-ab.sh ROUNDS LABEL=BINARY[:preallocate] ...
#   e.g. storage-append-ab.sh 6 A=/tmp/SR-old B=/tmp/SR-new C=/tmp/SR-new:preallocate
# Copy each build's .build/release/StorageRecovery aside first (built with `swift build -c release --product
# StorageRecovery` in Benchmarks/). Logs go to $SPATE_BENCH_DIR or /tmp.
set -uo pipefail
rounds=$1
shift
variants=("$@")
dir="${SPATE_BENCH_DIR:-/tmp}"
file="$dir/ab-ddtest.$$"
trap 'rm -f "$file"' EXIT
dd_pair() {
    rm -f "$file"; sync
    echo "dd bs=16733 page cache: $(LC_ALL=C dd if=/dev/zero of="$file" bs=16733 count=32085 2>&1 | tail -1)"
    rm -f "$file"; sync
    echo "dd bs=1M oflag=direct:  $(LC_ALL=C dd if=/dev/zero of="$file" bs=1M count=512 oflag=direct 2>&1 | tail -1)"
    rm -f "$file"
}
for round in $(seq 1 "$rounds"); do
    echo "== round $round $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
    dd_pair
    order=("${variants[@]}")
    if (( round % 2 == 0 )); then
        order=()
        for (( i = ${#variants[@]} - 1; i >= 0; i-- )); do order+=("${variants[i]}"); done
    fi
    for variant in "${order[@]}"; do
        label=${variant%%=*}
        spec=${variant#*=}
        binary=${spec%%:*}
        preallocate=0
        [[ $spec == *:preallocate ]] && preallocate=1
        echo "-- $label (load $(cut -d' ' -f1 /proc/loadavg))"
        SPATE_BENCH_PREALLOCATE=$preallocate STORAGE_RECOVERY_ONLY=append APPEND_SHAPE="16 KiB" SPATE_BENCH_DIR="$dir" \
            "$binary" | tail -2
    done
done
echo "== end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
dd_pair
