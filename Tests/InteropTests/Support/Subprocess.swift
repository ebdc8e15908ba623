import Foundation

/// The outcome of a finished child process.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

struct ProcessTimeout: Error, CustomStringConvertible {
    var command: String
    var description: String { "timed out: \(self.command)" }
}

/// Runs `arguments[0]` (looked up on PATH) with `stdin` as its input, waiting for it to exit without blocking a thread;
/// the process is terminated if it outlives `timeout`.
func run(_ arguments: [String], stdin: String = "", timeout: Duration = .seconds(60)) async throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let input = Pipe()
    let output = Pipe()
    let errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    // Drain both pipes as data arrives so that a chatty child never blocks on a full pipe.
    let collected = CollectedOutput()
    output.fileHandleForReading.readabilityHandler = { collected.append(stdout: $0.availableData) }
    errors.fileHandleForReading.readabilityHandler = { collected.append(stderr: $0.availableData) }
    let timedOut = LockedFlag()
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do {
            try process.run()
        } catch {
            process.terminationHandler = nil
            continuation.resume(throwing: error)
            return
        }
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try? input.fileHandleForWriting.close()
        let seconds = Double(timeout.components.seconds)
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
            if process.isRunning {
                timedOut.set()
                process.terminate()
            }
        }
    }
    output.fileHandleForReading.readabilityHandler = nil
    errors.fileHandleForReading.readabilityHandler = nil
    collected.append(stdout: output.fileHandleForReading.readDataToEndOfFile())
    collected.append(stderr: errors.fileHandleForReading.readDataToEndOfFile())
    if timedOut.isSet { throw ProcessTimeout(command: arguments.joined(separator: " ")) }
    return ProcessResult(status: status, stdout: collected.stdout, stderr: collected.stderr)
}

private final class CollectedOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    func append(stdout data: Data) { self.lock.withLock { self.out.append(data) } }
    func append(stderr data: Data) { self.lock.withLock { self.err.append(data) } }
    var stdout: String { self.lock.withLock { String(decoding: self.out, as: UTF8.self) } }
    var stderr: String { self.lock.withLock { String(decoding: self.err, as: UTF8.self) } }
}

private final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { self.lock.withLock { self.value = true } }
    var isSet: Bool { self.lock.withLock { self.value } }
}
