public import SpateWire

extension KafkaClient {
    /// The coordinator of `group` (FindCoordinator, cached until ``invalidateCoordinator(of:)``); one attempt.
    /// - Throws: A retriable ``KafkaClientError`` (`COORDINATOR_NOT_AVAILABLE`, …) while there is none.
    public func coordinator(of group: GroupID) async throws -> BrokerID {
        if let node = self.coordinators[group], self.metadata.brokers[node] != nil { return node }
        let response = try await self.send(to: nil) { version in
            version >= 4
                ? FindCoordinatorRequest(keyType: 0, coordinatorKeys: [group.rawValue])
                : FindCoordinatorRequest(key: group.rawValue, keyType: 0)
        }
        let errorCode: ErrorCode
        let node: BrokerID
        let message: String?
        if let entry = response.coordinators.first {
            (errorCode, node, message) = (entry.errorCode, entry.nodeID, entry.errorMessage)
        } else {
            (errorCode, node, message) = (response.errorCode, response.nodeID, response.errorMessage)
        }
        guard errorCode == .none else {
            throw KafkaClientError.broker(errorCode, "FindCoordinator for group '\(group)'", message: message)
        }
        if self.metadata.brokers[node] == nil {
            try await self.refreshMetadata(topics: [], allowAutoCreate: false)
            guard self.metadata.brokers[node] != nil else {
                throw KafkaClientError.broker(.coordinatorNotAvailable, "coordinator \(node) of group '\(group)' is unknown")
            }
        }
        self.coordinators[group] = node
        return node
    }

    /// Forgets the cached coordinator of `group` (after `NOT_COORDINATOR`, `COORDINATOR_NOT_AVAILABLE` or a
    /// connection failure).
    public func invalidateCoordinator(of group: GroupID) {
        self.coordinators[group] = nil
    }

    /// Sends a request to the coordinator of `group`, retrying retriable failures (re-finding the coordinator)
    /// within ``ClientConfiguration/operationTimeout``. `check` turns the response's error code into a throw.
    func sendToCoordinator<Request: KafkaRequest>(
        of group: GroupID, _ operation: String, timeout: Duration? = nil,
        errorCode: @escaping @Sendable (Request.Response) -> ErrorCode = { _ in .none },
        _ make: @escaping @Sendable (_ version: Int16) throws -> Request
    ) async throws -> Request.Response {
        try await retrying(self, operation) {
            let node = try await self.coordinator(of: group)
            do {
                let response = try await self.send(to: node, timeout: timeout, make)
                let code = errorCode(response)
                if code != .none { throw KafkaClientError.broker(code, "\(operation) for group '\(group)'") }
                return response
            } catch {
                if let clientError = error as? KafkaClientError, clientError.invalidatesCoordinator {
                    self.invalidateCoordinator(of: group)
                }
                throw error
            }
        }
    }
}

extension KafkaClientError {
    /// Whether the group's coordinator should be looked up again after this error.
    var invalidatesCoordinator: Bool {
        if let code = self.kafkaErrorCode { return code == .notCoordinator || code == .coordinatorNotAvailable }
        return self.code == .connectionFailed || self.code == .connectionClosed
    }
}
