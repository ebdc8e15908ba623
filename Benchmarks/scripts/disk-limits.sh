#!/usr/bin/env bash
# Measures the disk's own write limits with dd, for comparison with the storage benchmarks (BENCHMARKS.md, "Storage
# (issue 3)"). Usage: Benchmarks/scripts/disk-limits.sh [directory] [count-in-MiB]
#   directory: where to write the 1 GiB test file (default: $SPATE_BENCH_DIR or /tmp; use the benchmarks' directory)
#   count:     MiB to write (default 1024)
# Prints, for each mode, dd's own summary line and the rate in MB/s (10^6 bytes/s) computed from dd's byte count and
# elapsed seconds. The test file is removed afterwards (also on interruption).
set -euo pipefail

dir="${1:-${SPATE_BENCH_DIR:-/tmp}}"
count="${2:-1024}"
file="$dir/ddtest.$$"
trap 'rm -f "$file"' EXIT

echo "directory: $dir ($(df --output=source,fstype "$dir" | tail -1 | tr -s ' '))"
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), load: $(cut -d' ' -f1-3 /proc/loadavg)"

run() {
    local label="$1" bs="$2"
    shift 2
    rm -f "$file"
    sync
    # dd prints its summary on stderr: "<bytes> bytes (...) copied, <seconds> s, <rate>".
    local summary
    summary=$(LC_ALL=C dd if=/dev/zero of="$file" bs="$bs" count="$(( count * 1048576 / $(numfmt --from=iec "$bs") ))" "$@" 2>&1 | tail -1)
    local bytes seconds
    bytes=$(echo "$summary" | awk '{print $1}')
    seconds=$(echo "$summary" | sed -E 's/.*copied, ([0-9.e+-]+) s.*/\1/')
    local rate
    rate=$(awk -v b="$bytes" -v s="$seconds" 'BEGIN { printf "%.0f", b / s / 1e6 }')
    printf '%-32s %8s MB/s   (%s)\n' "$label" "$rate" "$summary"
}

run "dd bs=1M oflag=direct" 1M oflag=direct
run "dd bs=1M conv=fdatasync" 1M conv=fdatasync
# Cached write without any sync, for reference: what the page cache absorbs (not a disk limit).
run "dd bs=1M (no sync, page cache)" 1M
# The same with 16 KiB writes, and with writes of exactly the 16 KiB append benchmark's batch (16,733 bytes: 16 records
# of 1 KiB and the batch's framing): the kernel's own cost for writes of that size, which are not page-aligned.
run "dd bs=16K (no sync, page cache)" 16K
run "dd bs=16733 (no sync, page cache)" 16733
