/// How a cleaned segment replaces the one it was cleaned from, crash-safely.
///
/// A segment's three files (`.log`, `.index`, `.timeindex`) are replaced together; one `rename` cannot do that, so the
/// cleaner uses two suffixes and one commit point:
///
/// 1. Write `<base>.log.cleaned`, `<base>.index.cleaned` and `<base>.timeindex.cleaned`; fsync each.
/// 2. Under the log's lock: rename the two index files to `*.swap`, fsync the directory; then rename
///    `<base>.log.cleaned` to `<base>.log.swap` and fsync the directory. **The existence of `<base>.log.swap` is the
///    commit point.**
/// 3. Rename the index `*.swap` files to their final names, fsync the directory; then rename `<base>.log.swap` to
///    `<base>.log` (replacing the old file) and fsync the directory. The in-memory segment is swapped.
///
/// At start-up (``completeInterruptedCleanerSwaps(fileSystem:directory:names:)``, called by `PartitionLog.open`):
/// - `<base>.log.swap` exists: the swap committed; every `<base>.*.swap` is renamed to its final name (the index files
///   first). Index files already renamed in step 3 are the new ones, because step 3 renames them before the log.
/// - an index `*.swap` without its `<base>.log.swap`: step 2 never committed (step 3 removes the log's `.swap` last),
///   so it is deleted and the old segment stays whole.
/// - `*.cleaned` files are deleted by `PartitionLog.open` (an uncommitted step 1 or 2).
///
/// Each segment keeps its base offset, so a swap never changes which segments exist.
enum CleanerSwap {
    static let cleanedSuffix = ".cleaned"
    static let swapSuffix = ".swap"
    static let indexSuffixes = [".index", ".timeindex"]

    static func path(_ directory: String, _ baseOffset: Int64, _ suffix: String, _ state: String = "") -> String {
        joinPath(directory, LogSegment.fileName(baseOffset, suffix) + state)
    }

    /// Steps 2 and 3 for one segment whose `.cleaned` files are written and synced. Call with the log's lock held.
    static func commit(fileSystem: any StorageFileSystem, directory: String, baseOffset: Int64) throws(StorageError) {
        for suffix in Self.indexSuffixes {
            try fileSystem.rename(
                Self.path(directory, baseOffset, suffix, Self.cleanedSuffix),
                to: Self.path(directory, baseOffset, suffix, Self.swapSuffix))
        }
        try fileSystem.syncDirectory(directory)
        try fileSystem.rename(
            Self.path(directory, baseOffset, ".log", Self.cleanedSuffix),
            to: Self.path(directory, baseOffset, ".log", Self.swapSuffix))
        try fileSystem.syncDirectory(directory)
        // Committed: from here on a crash completes the swap at start-up.
        try Self.finish(fileSystem: fileSystem, directory: directory, baseOffset: baseOffset)
    }

    /// Step 3: renames the `.swap` files that exist to their final names, the log last.
    static func finish(fileSystem: any StorageFileSystem, directory: String, baseOffset: Int64) throws(StorageError) {
        for suffix in Self.indexSuffixes {
            let swap = Self.path(directory, baseOffset, suffix, Self.swapSuffix)
            if fileSystem.fileExists(swap) {
                try fileSystem.rename(swap, to: Self.path(directory, baseOffset, suffix))
            }
        }
        try fileSystem.syncDirectory(directory)
        try fileSystem.rename(
            Self.path(directory, baseOffset, ".log", Self.swapSuffix), to: Self.path(directory, baseOffset, ".log"))
        try fileSystem.syncDirectory(directory)
    }

    /// Removes the `.cleaned` and index `.swap` files of an uncommitted swap (best effort).
    static func discard(fileSystem: any StorageFileSystem, directory: String, baseOffset: Int64) {
        for suffix in LogSegment.suffixes {
            try? fileSystem.remove(Self.path(directory, baseOffset, suffix, Self.cleanedSuffix))
        }
        for suffix in Self.indexSuffixes {
            try? fileSystem.remove(Self.path(directory, baseOffset, suffix, Self.swapSuffix))
        }
    }
}

/// Completes or rolls back cleaner swaps interrupted by a crash (see ``CleanerSwap``), given the directory's `names`;
/// returns whether it renamed or removed anything (the listing is then stale). `PartitionLog.open` calls it before
/// looking for segments.
func completeInterruptedCleanerSwaps(
    fileSystem: any StorageFileSystem, directory: String, names: [String]
) throws(StorageError) -> Bool {
    var committed: [Int64] = []
    for name in names where name.hasSuffix(".log" + CleanerSwap.swapSuffix) {
        if let base = LogSegment.baseOffset(fromFileName: String(name.dropLast(CleanerSwap.swapSuffix.count))) {
            committed.append(base)
        }
    }
    for base in committed {
        try CleanerSwap.finish(fileSystem: fileSystem, directory: directory, baseOffset: base)
    }
    var removedOrphans = false
    for suffix in CleanerSwap.indexSuffixes {
        for name in names where name.hasSuffix(suffix + CleanerSwap.swapSuffix) {
            let finalName = String(name.dropLast(CleanerSwap.swapSuffix.count))
            guard let base = LogSegment.baseOffset(fromFileName: finalName, suffix: suffix), !committed.contains(base)
            else { continue }
            try fileSystem.remove(joinPath(directory, name))
            removedOrphans = true
        }
    }
    if removedOrphans { try fileSystem.syncDirectory(directory) }
    return removedOrphans || !committed.isEmpty
}
