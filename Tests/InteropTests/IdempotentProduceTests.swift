import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real `spate serve` process and a real idempotent producer (confluent-kafka, librdkafka from PyPI) behind a proxy
/// that drops some Produce responses, forcing librdkafka to retry batches the broker already appended. Every record
/// must be in the log exactly once, in order, at the offset its delivery report gave (so duplicates were answered
/// with their original offsets).
@Suite(.serialized) struct IdempotentProduceTests {
    @Test func retriedBatchesAreStoredOnceWithTheirOriginalOffsets() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let binary = root.appendingPathComponent(".build/debug/spate").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build spate first (swift build)")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Scripts/idempotent_produce.py").path
        let dataDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("spate-idempotence-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let brokerPort = try freePort()
        let proxyPort = try freePort()

        let broker = try BrokerProcess(
            binary: binary,
            arguments: [
                "serve", "--data-dir", dataDirectory, "--listener", "127.0.0.1:\(brokerPort)",
                // Clients must come back through the proxy, so the broker advertises the proxy's port.
                "--advertised-listener", "127.0.0.1:\(proxyPort)", "--set", "num.partitions=3", "--log-level", "debug",
            ])
        let result: ProcessResult
        do {
            result = try await run(
                ["python3", script, "\(proxyPort)", "\(brokerPort)", "idempotence", "3", "10000"], timeout: .seconds(300))
        } catch {
            let log = broker.stop()
            Issue.record("the producer did not finish: \(error)\n\(log.suffix(3000))")
            return
        }
        let log = broker.stop()
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n--- broker log tail ---\n\(log.suffix(3000))")
        let duplicates = log.components(separatedBy: "Answered a retried idempotent batch").count - 1
        #expect(duplicates > 0, "the broker never saw a retried batch: \(result.stdout)")
        #expect(!log.contains("Refused an idempotent batch"), "\(log.suffix(3000))")
    }
}

/// A free TCP port on 127.0.0.1, found by binding port 0.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A `spate serve` child process whose standard error goes to a file (so a chatty broker never blocks on a pipe).
final class BrokerProcess {
    let process = Process()
    let logPath: String

    init(binary: String, arguments: [String]) throws {
        self.logPath = FileManager.default.temporaryDirectory.appendingPathComponent("spate-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: self.logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: self.logPath))
        self.process.executableURL = URL(fileURLWithPath: binary)
        self.process.arguments = arguments
        self.process.standardError = log
        self.process.standardOutput = log
        try self.process.run()
    }

    /// Stops the broker gracefully (SIGTERM) and returns its log.
    func stop() -> String {
        if self.process.isRunning {
            self.process.terminate()
            self.process.waitUntilExit()
        }
        let log = (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: self.logPath)
        return log
    }
}
