import NIOCore
import SpateRecords
import Testing

@testable import SpateStorage

/// Randomized workloads of puts, overwrites and tombstones over a small key space, compacted at random points and
/// checked against a model: the last value per key survives, at its original offset, and nothing else changes.
@Suite struct LogCleanerPropertyTests {
    struct Original: Equatable {
        var key: String?
        var value: String?
        var timestamp: Int64
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8, 0xC0FFEE, 0xDEAD_BEEF])
    func compactionMatchesTheModel(seed: UInt64) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var rng = SplitMix64(seed: seed)
        var config = CleanerTests.compactConfig(segmentBytes: Int64.random(in: 700...3000, using: &rng))
        config.minCleanableDirtyRatio = [0, 0.3, 0.6].randomElement(using: &rng)!
        // Long enough that no tombstone expires until the last pass, which jumps past it.
        config.deleteRetention = .seconds(3600)
        let log = try CleanerTests.open(directory.path, config: config)
        let cleaner = LogCleaner(
            fileSystem: PosixFileSystem(), checkpointPath: directory.path + "/" + LogCleaner.checkpointFileName,
            logger: testLogger)

        let keySpace = Int.random(in: 3...25, using: &rng)
        let codecs = CompressionType.allCases
        var originals: [Int64: Original] = [:]
        var now: Int64 = 10_000
        let batchCount = Int.random(in: 60...160, using: &rng)
        var producerSequence: Int32 = 0
        for index in 0..<batchCount {
            now += Int64.random(in: 1...50, using: &rng)
            let count = Int.random(in: 1...8, using: &rng)
            var records: [(key: String?, value: String?)] = []
            for _ in 0..<count {
                let key = "key-\(Int.random(in: 0..<keySpace, using: &rng))"
                let value: String? = Int.random(in: 0..<5, using: &rng) == 0 ? nil : "v\(index)-\(rng.next() % 100_000)"
                records.append((key, value))
            }
            let idempotent = Bool.random(using: &rng)
            let set = try CleanerTests.batch(
                records, timestamp: now, compression: codecs.randomElement(using: &rng)!,
                producerID: idempotent ? 42 : -1, baseSequence: idempotent ? producerSequence : -1)
            if idempotent { producerSequence += Int32(count) }
            let result = try log.append(set, leaderEpoch: 3, nowMs: now)
            for (position, record) in records.enumerated() {
                originals[result.firstOffset + Int64(position)] = Original(
                    key: record.key, value: record.value, timestamp: now + Int64(position))
            }
            // Compact now and then while the workload runs: later passes see a clean section and a checkpoint.
            if Int.random(in: 0..<25, using: &rng) == 0 {
                try cleaner.clean(log: log, nowMs: now)
                try self.checkInvariants(log, originals: originals)
            }
        }
        var logEnd = log.logEndOffset
        let lastTimestamp = now + 8

        // Everything before the last pass is non-active: roll, then clean with every pass forced (ratio 0).
        try log.roll(nowMs: now)
        log.config.minCleanableDirtyRatio = 0
        let sizeBefore = try log.sizeInBytes

        // Tombstones still within delete.retention.ms: they stay.
        let early = try cleaner.clean(log: log, nowMs: lastTimestamp)
        #expect(early.cleaned)
        #expect(log.logEndOffset == logEnd)
        try self.checkInvariants(log, originals: originals)
        try self.checkLatest(log, originals: originals, tombstonesExpired: false)
        #expect(try log.sizeInBytes <= sizeBefore)

        // Tombstones past delete.retention.ms: they go, with every older record of their key. A pass needs dirty
        // data, so append (and roll past) one more record first.
        now = lastTimestamp + 3_600_000 + 10
        let extra = try log.append(
            try CleanerTests.batch([("fresh", "value")], timestamp: now - 5), leaderEpoch: 3, nowMs: now)
        originals[extra.firstOffset] = Original(key: "fresh", value: "value", timestamp: now - 5)
        try log.roll(nowMs: now)
        logEnd = log.logEndOffset
        let late = try cleaner.clean(log: log, nowMs: now)
        #expect(late.cleaned)
        #expect(log.logEndOffset == logEnd)
        try self.checkInvariants(log, originals: originals)
        try self.checkLatest(log, originals: originals, tombstonesExpired: true)
        #expect(late.recordsRemoved == late.tombstonesRemoved)

        // The same records after reopening, cleanly and after a crash (full recovery from offset 0).
        let expected = try CleanerTests.records(log)
        try log.close(nowMs: now)
        let reopened = try CleanerTests.open(directory.path, config: log.config, clean: true)
        #expect(try CleanerTests.records(reopened) == expected)
        #expect(reopened.logEndOffset == logEnd)
        try reopened.close(nowMs: now)
        let recovered = try CleanerTests.open(directory.path, config: log.config, clean: false, recoveryPoint: 0)
        #expect(try CleanerTests.records(recovered) == expected)
        #expect(recovered.logEndOffset == logEnd)
        // And a fresh cleaner finds the checkpoint.
        let again = LogCleaner(
            fileSystem: PosixFileSystem(), checkpointPath: directory.path + "/" + LogCleaner.checkpointFileName,
            logger: testLogger)
        #expect(again.firstDirtyOffset(for: CleanerTests.partition) == logEnd)
        try recovered.close(nowMs: now)
    }

    /// Offsets strictly increase, every record is the original one at its offset, and batches are well formed.
    func checkInvariants(_ log: PartitionLog, originals: [Int64: Original]) throws {
        let records = try CleanerTests.records(log)
        for (previous, next) in zip(records, records.dropFirst()) {
            #expect(previous.offset < next.offset)
        }
        for record in records {
            let original = try #require(originals[record.offset])
            #expect(record.key == original.key && record.value == original.value)
            #expect(record.timestamp == original.timestamp)
        }
        // Every non-active record that is kept is the latest of its key among non-active records up to the last
        // cleaned offset, so the last value per key is always intact.
        try self.checkLatest(log, originals: originals, tombstonesExpired: nil)
    }

    /// The last record per key in the log equals the model's. With `tombstonesExpired`, keys whose last record is a
    /// tombstone must be absent altogether (true) or present as that tombstone (false); every key appears once.
    func checkLatest(_ log: PartitionLog, originals: [Int64: Original], tombstonesExpired: Bool?) throws {
        var model: [String: (offset: Int64, value: String?)] = [:]
        for (offset, original) in originals.sorted(by: { $0.key < $1.key }) {
            if let key = original.key { model[key] = (offset, original.value) }
        }
        let records = try CleanerTests.records(log)
        var found: [String: (offset: Int64, value: String?)] = [:]
        var occurrences: [String: Int] = [:]
        for record in records {
            guard let key = record.key else { continue }
            found[key] = (record.offset, record.value)
            occurrences[key, default: 0] += 1
        }
        for (key, latest) in model {
            if latest.value != nil || tombstonesExpired == false {
                #expect(found[key]?.offset == latest.offset, "key \(key)")
                #expect(found[key]?.value == latest.value, "key \(key)")
            } else if tombstonesExpired == true {
                #expect(found[key] == nil, "key \(key) should be gone with its tombstone")
            } else if let last = found[key] {
                // Not fully cleaned yet: the key is either absent or its latest record is the tombstone.
                #expect(last.offset == latest.offset, "key \(key)")
            }
        }
        if tombstonesExpired != nil {
            for (key, count) in occurrences { #expect(count == 1, "key \(key) appears \(count) times") }
        }
    }
}
