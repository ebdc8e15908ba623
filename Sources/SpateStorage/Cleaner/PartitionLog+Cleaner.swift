/// What the cleaner knows of one non-active segment, read under the log's lock.
struct CleanerSegmentSnapshot {
    let segment: LogSegment
    /// The segment's log file, opened under the lock (a lazily opened segment's file could otherwise be renamed away
    /// by retention before the cleaner reads it).
    let file: any SegmentFile
    var baseOffset: Int64 { self.segment.baseOffset }
    /// The segment's size when the snapshot was taken; the swap checks it has not changed.
    let size: Int64
    /// The next segment's base offset: every offset in this segment is below it.
    let endOffset: Int64
    /// The largest timestamp in the segment (-1 when empty or unknown).
    let largestTimestamp: Int64
}

/// The log as the cleaner sees it at the start of a pass.
struct CleanerLogSnapshot {
    let config: LogConfig
    let logStartOffset: Int64
    /// The base offset of the active segment, which is never cleaned.
    let activeBaseOffset: Int64
    /// The non-active segments, oldest first.
    let segments: [CleanerSegmentSnapshot]
}

extension PartitionLog {
    /// The non-active segments and the settings the cleaner needs, read under the lock.
    func cleanerSnapshot() throws -> CleanerLogSnapshot {
        let config = self.config
        let logStartOffset = self.logStartOffset
        return try self.withSegments { segments in
            var snapshots: [CleanerSegmentSnapshot] = []
            for index in segments.indices.dropLast() {
                let segment = segments[index]
                snapshots.append(
                    CleanerSegmentSnapshot(
                        segment: segment, file: try segment.logFile(), size: try segment.size, endOffset: segments[index + 1].baseOffset,
                        largestTimestamp: try segment.largestTimestamp()))
            }
            return CleanerLogSnapshot(
                config: config, logStartOffset: logStartOffset, activeBaseOffset: segments.last!.baseOffset,
                segments: snapshots)
        }
    }

    /// Swaps in the cleaned files written for `old` (`<base>.*.cleaned`, synced), following ``CleanerSwap``, if `old`
    /// is still a non-active segment of this log with `expectedSize` bytes. Otherwise (retention deleted it, a
    /// truncation made it active, …) the cleaned files are discarded and the result is false.
    ///
    /// The old segment's files are not closed: fetches holding them keep reading the old bytes, and they close when
    /// the last reference goes.
    func replaceWithCleanedSegment(_ old: LogSegment, expectedSize: Int64, config: LogConfig, nowMs: Int64) throws
        -> Bool
    {
        let fileSystem = self.fileSystem
        let directory = self.directory
        let base = old.baseOffset
        return try self.withSegments { segments in
            guard let index = segments.firstIndex(where: { $0 === old }), index < segments.count - 1,
                (try? old.size) == expectedSize
            else {
                CleanerSwap.discard(fileSystem: fileSystem, directory: directory, baseOffset: base)
                return false
            }
            do {
                try CleanerSwap.commit(fileSystem: fileSystem, directory: directory, baseOffset: base)
            } catch {
                if !fileSystem.fileExists(CleanerSwap.path(directory, base, ".log", CleanerSwap.swapSuffix)) {
                    // Not committed: the old segment stays, on disk and in memory.
                    CleanerSwap.discard(fileSystem: fileSystem, directory: directory, baseOffset: base)
                }
                // Committed but not finished: the next start-up finishes it; until then the old files, still open,
                // keep serving the old (equivalent) records.
                throw error
            }
            let replacement = try LogSegment.open(
                fileSystem: fileSystem, directory: directory, baseOffset: base, config: config, nowMs: nowMs)
            // Its next offset and max timestamp, as the replaced segment knew them (reads bound by a high watermark
            // inside a non-active segment rely on `nextOffset`).
            try replacement.loadTail()
            segments[index] = replacement
            return true
        }
    }
}
