import NIOCore
import SpateRecords
import Testing

@testable import SpateStorage

/// Crashes at each step of the swap (``CleanerSwap``), reproduced by placing the files each step leaves: the log
/// opens either as it was before the pass or as after it, with consistent indexes.
@Suite struct LogCleanerCrashTests {
    enum Crash: String, CaseIterable {
        /// Step 1: only `.cleaned` files were written.
        case cleanedOnly
        /// Step 2, before the commit: index files renamed to `.swap`, the log still `.cleaned`.
        case indexSwapsOnly
        /// Right after the commit: all three `.swap`.
        case allSwaps
        /// Step 3 half done: the new index files already in place, the log still `.swap`.
        case logSwapOnly
        /// Step 3 one file in: the offset index in place, the time index and the log `.swap`.
        case timeIndexAndLogSwaps
    }

    static let suffixes = [".log", ".index", ".timeindex"]

    @Test(arguments: Crash.allCases, [true, false])
    func openAfterACrashMidSwap(crash: Crash, cleanShutdown: Bool) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let before = directory.path + "/before"
        let after = directory.path + "/after"
        var config = CleanerTests.compactConfig(segmentBytes: 1 << 20)
        config.indexIntervalBytes = 64

        // A log with one big non-active segment (many overwrites) and an active one.
        let log = try CleanerTests.open(before, config: config)
        for round in 0..<40 {
            let records = (0..<5).map { (key: Optional("k\(($0 + round) % 7)"), value: Optional("r\(round)-\($0)")) }
            let set = try CleanerTests.batch(records, timestamp: 1_000 + Int64(round), compression: .snappy)
            _ = try log.append(set, leaderEpoch: 0, nowMs: 1_000)
        }
        try log.roll(nowMs: 2_000)
        _ = try log.append(try CleanerTests.batch([("k1", "active")], timestamp: 2_000), leaderEpoch: 0, nowMs: 2_000)
        try log.close(nowMs: 2_000)
        let original = try CleanerTests.records(try CleanerTests.open(before, config: config, clean: true))

        // The same log, cleaned, in another directory.
        try CleanerTests.copyDirectory(before + "/compacted-0", after + "/compacted-0")
        let cleaned = try CleanerTests.open(after, config: config, clean: true)
        let stats = try LogCleaner(fileSystem: PosixFileSystem(), checkpointPath: nil, logger: testLogger)
            .clean(log: cleaned, nowMs: 3_000)
        #expect(stats.segmentsReplaced == 1)
        let compacted = try CleanerTests.records(cleaned)
        try cleaned.close(nowMs: 3_000)
        #expect(compacted.count < original.count)

        // Put the cleaned files of segment 0 into the uncleaned log as the crash left them.
        let target = before + "/compacted-0/" + LogSegment.fileName(0, "")
        let source = after + "/compacted-0/" + LogSegment.fileName(0, "")
        func place(_ suffix: String, as state: String) throws {
            if state == "final" {
                try CleanerTests.copyFile(source + suffix, target + suffix)
            } else {
                try CleanerTests.copyFile(source + suffix, target + suffix + state)
            }
        }
        let expectCleaned: Bool
        switch crash {
        case .cleanedOnly:
            for suffix in Self.suffixes { try place(suffix, as: ".cleaned") }
            expectCleaned = false
        case .indexSwapsOnly:
            try place(".log", as: ".cleaned")
            try place(".index", as: ".swap")
            try place(".timeindex", as: ".swap")
            expectCleaned = false
        case .allSwaps:
            for suffix in Self.suffixes { try place(suffix, as: ".swap") }
            expectCleaned = true
        case .logSwapOnly:
            try place(".index", as: "final")
            try place(".timeindex", as: "final")
            try place(".log", as: ".swap")
            expectCleaned = true
        case .timeIndexAndLogSwaps:
            try place(".index", as: "final")
            try place(".timeindex", as: ".swap")
            try place(".log", as: ".swap")
            expectCleaned = true
        }

        // After an unclean shutdown only the active segment is recovered (the recovery point is past segment 0), so
        // segment 0's files must be consistent by themselves.
        let reopened = try CleanerTests.open(before, config: config, clean: cleanShutdown, recoveryPoint: 200)
        let expected = expectCleaned ? compacted : original
        #expect(try CleanerTests.records(reopened) == expected)
        #expect(reopened.logEndOffset == 201)
        let names = try PosixFileSystem().contentsOfDirectory(before + "/compacted-0")
        #expect(!names.contains { $0.hasSuffix(".cleaned") || $0.hasSuffix(".swap") }, "\(names)")
        // The indexes agree with the log: a read from every offset starts at the batch holding it (or the next).
        for record in expected {
            let slice = try #require(try reopened.read(from: record.offset, maxBytes: 1))
            let batch = try #require(RecordSet(buffer: try slice.readBytes()).batches.first(where: { _ in true }))
            try batch.validate()
            #expect(batch.baseOffset <= record.offset && batch.lastOffset >= record.offset)
        }
        #expect(try reopened.offset(forTimestamp: 1_020)?.offset == expected.first { $0.timestamp >= 1_020 }?.offset)
    }
}
