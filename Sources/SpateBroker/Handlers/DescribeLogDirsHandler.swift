import Logging
import SpateStorage
import SpateWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// DescribeLogDirs (35): the single data directory, with every partition's size (the sum of its segments), offset lag
/// 0 (the log end is the high watermark on one node) and, from v4, the volume's total and usable bytes.
struct DescribeLogDirsHandler: RequestHandler {
    static let versions: ClosedRange<Int16> = 1...4

    func handle(_ request: DescribeLogDirsRequest, context: RequestContext) async throws -> DescribeLogDirsResponse? {
        let broker = context.broker
        let replicas = broker.replicas
        // The partitions asked for, of topics that exist; nil asks for every partition.
        var wanted: [(TopicMetadata, [Int32])] = []
        if let requested = request.topics {
            var seen: [String: Int] = [:]
            for item in requested {
                guard let topic = broker.topics.topic(named: item.topic.rawValue) else { continue }
                let partitions = item.partitions.filter { $0 >= 0 && $0 < topic.partitionCount }
                if let index = seen[topic.name] {
                    wanted[index].1 += partitions.filter { !wanted[index].1.contains($0) }
                } else {
                    seen[topic.name] = wanted.count
                    wanted.append((topic, partitions))
                }
            }
        } else {
            wanted = broker.topics.all.map { ($0, Array(0..<$0.partitionCount)) }
        }
        let selection = wanted
        let directory = replicas.logManager.dataDirectory
        let result = try await replicas.io.run { () -> DescribeLogDirsResponse.DescribeLogDirsResult in
            let topics = selection.map { topic, partitions in
                DescribeLogDirsResponse.DescribeLogDirsTopic(
                    name: TopicName(topic.name),
                    partitions: partitions.map { index in
                        let log = try? replicas.logManager.log(for: TopicPartition(topic: topic.name, partition: index))
                        return .init(
                            partitionIndex: index,
                            partitionSize: (try? log?.sizeInBytes) ?? 0,
                            offsetLag: 0,
                            isFutureKey: false
                        )
                    }
                )
            }
            let (total, usable) = Self.volumeSpace(directory)
            return .init(
                errorCode: .none,
                logDir: Self.absolutePath(directory),
                topics: topics,
                totalBytes: total,
                usableBytes: usable
            )
        }
        return DescribeLogDirsResponse(throttleTimeMs: 0, errorCode: .none, results: [result])
    }

    /// The directory's absolute path, symbolic links resolved where possible.
    static func absolutePath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The total and available bytes of the volume holding `path`, or -1 each if unknown.
    static func volumeSpace(_ path: String) -> (total: Int64, usable: Int64) {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return (-1, -1) }
        let unit = Int64(stats.f_frsize)
        return (Int64(stats.f_blocks) * unit, Int64(stats.f_bavail) * unit)
    }
}
