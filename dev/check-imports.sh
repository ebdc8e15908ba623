#!/usr/bin/env bash
# Enforces the layering in ../shared/STYLE.md §1: each library target may import only the modules listed for it.
# The sans-IO targets (SpateRecords, SpateWire) import no NIOPosix, Logging or Foundation; no library imports
# Foundation; storage does not know the protocol.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A allowed=(
  [SpateRecords]="NIOCore CSpateCRC32C"
  [SpateWire]="NIOCore SpateRecords"
  [SpateCompression]="NIOCore SpateRecords CSpateZlib CSpateSnappy CSpateLZ4 CSpateZstd"
  # Storage knows nothing about requests (no SpateWire) and no Foundation; NIOPosix only for the thread pool.
  [SpateStorage]="NIOCore NIOPosix NIOConcurrencyHelpers SystemPackage Logging SpateRecords CSpateFileIO Glibc Darwin"
  # Coordinators are state machines: no sockets, no files, no clock of their own.
  [SpateCoordinators]="NIOCore SpateWire SpateRecords Logging"
  [SpateBroker]="NIOCore NIOPosix NIOConcurrencyHelpers Logging ServiceLifecycle SpateWire SpateRecords SpateStorage SpateCompression SpateCoordinators Glibc Darwin"
  # The client speaks the protocol over NIO; it knows nothing of the broker or storage.
  [SpateClient]="NIOCore NIOPosix NIOConcurrencyHelpers Logging ServiceLifecycle SpateWire SpateRecords SpateCompression Synchronization Glibc Darwin"
  [SpateTesting]="SpateBroker SpateStorage Logging ServiceLifecycle Glibc Darwin"
  # The one binary: no Foundation (it would add ~6 MB to the idle broker's resident memory).
  [spate]="Histogram ArgumentParser Logging ServiceLifecycle UnixSignals SpateBroker SpateClient SpateWire SpateRecords NIOCore NIOPosix NIOConcurrencyHelpers Glibc Darwin"
)

status=0
for target in "${!allowed[@]}"; do
  [ -d "Sources/$target" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    module=$(sed -E 's/^.*import[[:space:]]+([A-Za-z0-9_]+).*$/\1/' <<<"${line#*:}")
    if ! grep -qw -- "$module" <<<"${allowed[$target]}"; then
      echo "check-imports: $file imports $module, which $target may not use (allowed: ${allowed[$target]})" >&2
      status=1
    fi
  done < <(grep -rHE '^[[:space:]]*(@_exported[[:space:]]+)?((public|package|internal|private|fileprivate)[[:space:]]+)?import[[:space:]]' "Sources/$target" --include='*.swift' | sed -E 's/:[0-9]+:/:/' || true)
done
[ $status -eq 0 ] && echo "check-imports: layering OK"
exit $status
