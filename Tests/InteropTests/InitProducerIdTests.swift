import Foundation
import NIOCore
import SpateRecords
import SpateWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// InitProducerId and idempotent Produce against a real `spate serve`, spoken with Spate's own codec over a plain
/// socket: IDs are unique across graceful and `kill -9` restarts, transactional producers are refused as documented,
/// and the produce path maps fencing and sequence errors to Kafka's codes.
@Suite(.serialized) struct InitProducerIdTests {
    static var binary: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/spate").path
    }

    static func startBroker(dataDirectory: String) throws -> (BrokerProcess, Int) {
        let port = try freePort()
        let broker = try BrokerProcess(
            binary: Self.binary,
            arguments: ["serve", "--data-dir", dataDirectory, "--listener", "127.0.0.1:\(port)", "--log-level", "debug"])
        return (broker, port)
    }

    @Test func producerIDsAreNeverReusedAcrossRestarts() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build spate first (swift build)")
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("spate-pid-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }

        var (broker, port) = try Self.startBroker(dataDirectory: dataDirectory)
        var client = try await KafkaTestConnection(port: port)
        var ids: [Int64] = []
        for version in Int16(0)...5 {
            let response = try client.send(InitProducerIdRequest(transactionalID: nil, transactionTimeoutMs: 60_000), version: version)
            #expect(response.errorCode == .none)
            #expect(response.producerEpoch == 0)
            ids.append(response.producerID.rawValue)
        }
        // KIP-360 (v3+): an idempotent producer passing its ID and epoch gets a new ID with epoch 0, as from Kafka.
        let bump = try client.send(
            InitProducerIdRequest(transactionalID: nil, transactionTimeoutMs: 60_000, producerID: ProducerID(ids[5]), producerEpoch: 0),
            version: 4)
        #expect(bump.errorCode == .none && bump.producerEpoch == 0)
        ids.append(bump.producerID.rawValue)
        #expect(ids == Array(0...6))
        // Transactions are not served yet: a transactional ID is refused with a fatal code; an empty one is invalid.
        let transactional = try client.send(InitProducerIdRequest(transactionalID: "orders-tx", transactionTimeoutMs: 60_000), version: 5)
        #expect(transactional.errorCode == .transactionalIDAuthorizationFailed)
        #expect(transactional.producerID == .none)
        let empty = try client.send(InitProducerIdRequest(transactionalID: "", transactionTimeoutMs: 60_000), version: 5)
        #expect(empty.errorCode == .invalidRequest)
        client.close()
        _ = broker.stop()

        // A graceful restart continues after the persisted block; so does a kill -9.
        (broker, port) = try Self.startBroker(dataDirectory: dataDirectory)
        client = try await KafkaTestConnection(port: port)
        #expect(try client.send(InitProducerIdRequest(transactionalID: nil), version: 5).producerID == 1_000)
        client.close()
        kill(broker.process.processIdentifier, SIGKILL)
        broker.process.waitUntilExit()
        _ = broker.stop()
        (broker, port) = try Self.startBroker(dataDirectory: dataDirectory)
        client = try await KafkaTestConnection(port: port)
        #expect(try client.send(InitProducerIdRequest(transactionalID: nil), version: 5).producerID == 2_000)
        client.close()
        _ = broker.stop()
    }

    @Test func produceMapsIdempotenceOutcomesToKafkaErrorCodes() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build spate first (swift build)")
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("spate-pid-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        var (broker, port) = try Self.startBroker(dataDirectory: dataDirectory)
        var client = try await KafkaTestConnection(port: port)
        _ = try client.send(
            CreateTopicsRequest(topics: [.init(name: "idem", numPartitions: 1, replicationFactor: 1)], timeoutMs: 10_000),
            version: 7)
        let pid = try client.send(InitProducerIdRequest(transactionalID: nil), version: 5).producerID.rawValue

        func produce(epoch: Int16 = 0, sequence: Int32, count: Int = 3, transactional: Bool = false) throws
            -> ProduceResponse.PartitionProduceResponse
        {
            var builder = RecordBatchBuilder(
                producerID: pid, producerEpoch: epoch, baseSequence: sequence, isTransactional: transactional)
            for i in 0..<count { builder.append(key: nil, value: ByteBuffer(string: "s\(sequence)-\(i)"), timestamp: 1_000) }
            let request = ProduceRequest(
                transactionalID: nil, acks: -1, timeoutMs: 10_000,
                topicData: [
                    .init(name: "idem", partitionData: [.init(index: 0, records: RecordSet(buffer: try builder.build(compressor: nil)))])
                ])
            return try client.send(request, version: 11).responses[0].partitionResponses[0]
        }

        #expect(try produce(sequence: 0).baseOffset == 0)
        #expect(try produce(sequence: 3).baseOffset == 3)
        let retry = try produce(sequence: 0)
        #expect(retry.errorCode == .none && retry.baseOffset == 0)
        #expect(try produce(sequence: 9).errorCode == .outOfOrderSequenceNumber)
        #expect(try produce(epoch: 1, sequence: 0).baseOffset == 6)
        #expect(try produce(epoch: 0, sequence: 6).errorCode == .invalidProducerEpoch)
        #expect(try produce(epoch: 1, sequence: 3, transactional: true).errorCode == .invalidTxnState)
        client.close()
        _ = broker.stop()

        // After a graceful restart the broker still knows the producer's last batches (from its snapshot).
        (broker, port) = try Self.startBroker(dataDirectory: dataDirectory)
        client = try await KafkaTestConnection(port: port)
        let after = try produce(epoch: 1, sequence: 0)
        #expect(after.errorCode == .none && after.baseOffset == 6)
        #expect(try produce(epoch: 1, sequence: 3).baseOffset == 9)
        client.close()
        _ = broker.stop()
    }
}

/// A blocking Kafka connection for tests: one request at a time, encoded and decoded with SpateWire.
struct KafkaTestConnection {
    let fd: Int32
    var correlationID: Int32 = 0

    /// Connects, retrying while the broker starts (up to 30 s).
    init(port: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if connected == 0 {
                self.fd = fd
                return
            }
            _ = Glibc.close(fd)
            guard ContinuousClock.now < deadline else { throw POSIXError(.ECONNREFUSED) }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    mutating func send<Request: KafkaRequest>(_ request: Request, version: Int16) throws -> Request.Response {
        self.correlationID += 1
        var frame = ByteBuffer()
        try request.encodeFrame(into: &frame, version: version, correlationID: self.correlationID, clientID: "spate-tests")
        let bytes = Array(frame.readableBytesView)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw POSIXError(.EPIPE) }
            sent += n
        }
        let size = try self.receive(4).reduce(0) { ($0 << 8) | Int($1) }
        let body = ByteBuffer(bytes: try self.receive(size))
        let (correlation, response) = try Request.Response.decodeFrame(body, version: version)
        guard correlation == self.correlationID else { throw POSIXError(.EPROTO) }
        return response
    }

    private func receive(_ count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var received = 0
        while received < count {
            let n = buffer[received...].withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw POSIXError(.ECONNRESET) }
            received += n
        }
        return buffer
    }

    func close() { _ = Glibc.close(self.fd) }
}
