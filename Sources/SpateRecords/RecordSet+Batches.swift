import NIOCore

extension RecordSet {
    /// The batches in the set, as zero-copy ``RecordBatch`` slices, framed by `baseOffset` and `batchLength`.
    ///
    /// Iteration ends at the end of the bytes, at a trailing partial batch (which Fetch responses may contain; see
    /// ``BatchIterator/trailingPartialBytes``), or at a malformed length (see ``BatchIterator/error``). Use
    /// ``splitBatches()`` to get a malformed length as a thrown error. Batches are framed, not validated.
    public var batches: Batches { Batches(buffer: self.buffer) }

    /// A sequence of the batches in a ``RecordSet``.
    public struct Batches: Sequence, Sendable {
        let buffer: ByteBuffer

        public func makeIterator() -> BatchIterator { BatchIterator(buffer: self.buffer) }
    }

    /// Yields the batches of a ``RecordSet`` one at a time.
    public struct BatchIterator: IteratorProtocol, Sendable {
        private var remaining: ByteBuffer

        /// The size of an incomplete batch at the end of the set, once iteration has reached it; otherwise 0.
        public private(set) var trailingPartialBytes: Int = 0

        /// The framing error that ended iteration early, if any.
        public private(set) var error: RecordBatchError?

        init(buffer: ByteBuffer) {
            self.remaining = buffer
        }

        /// Returns the next whole batch, or `nil` at the end, at a partial tail, or after a framing error.
        public mutating func next() -> RecordBatch? {
            do {
                return try self.nextBatch()
            } catch {
                self.error = error
                return nil
            }
        }

        /// Returns the next whole batch, or `nil` at the end of the bytes or at a trailing partial batch.
        ///
        /// After an error or `nil` every further call returns `nil`.
        /// - Throws: ``RecordBatchError`` with code ``RecordBatchError/Code/invalidBatchLength`` for a negative or
        ///   too-small `batchLength`, or ``RecordBatchError/Code/unsupportedMagic`` when the too-small batch is of an
        ///   older format.
        public mutating func nextBatch() throws(RecordBatchError) -> RecordBatch? {
            let available = self.remaining.readableBytes
            guard available > 0 else { return nil }
            let start = self.remaining.readerIndex
            guard
                let batchLength = self.remaining.getInteger(
                    at: start + RecordBatch.FieldOffset.batchLength,
                    as: Int32.self
                )
            else {
                return self.endWithPartialTail()
            }
            guard batchLength >= RecordBatch.minimumBatchLength else {
                let magic = self.remaining.getInteger(at: start + RecordBatch.FieldOffset.magic, as: Int8.self)
                self.remaining.moveReaderIndex(forwardBy: available)
                if let magic, magic != RecordBatch.currentMagic {
                    throw RecordBatchError(
                        .unsupportedMagic,
                        "record batch magic \(magic) is not supported; only 2 is"
                    )
                }
                throw RecordBatchError(
                    .invalidBatchLength,
                    "batchLength \(batchLength) is below the minimum \(RecordBatch.minimumBatchLength)"
                )
            }
            let size = Int(batchLength) + RecordBatch.logOverhead
            guard size <= available, let slice = self.remaining.readSlice(length: size) else {
                return self.endWithPartialTail()
            }
            return try RecordBatch(buffer: slice)
        }

        private mutating func endWithPartialTail() -> RecordBatch? {
            self.trailingPartialBytes = self.remaining.readableBytes
            self.remaining.moveReaderIndex(forwardBy: self.remaining.readableBytes)
            return nil
        }
    }

    /// Splits the set into whole batches and the size of a trailing partial batch (as Fetch responses may end with).
    ///
    /// Batches are framed, not validated.
    /// - Returns: The whole batches in order, and the number of bytes of an incomplete last batch (0 if none).
    /// - Throws: ``RecordBatchError`` for a negative or too-small `batchLength`.
    public func splitBatches() throws(RecordBatchError) -> (batches: [RecordBatch], partialTail: Int) {
        var iterator = BatchIterator(buffer: self.buffer)
        var batches: [RecordBatch] = []
        while let batch = try iterator.nextBatch() {
            batches.append(batch)
        }
        return (batches, iterator.trailingPartialBytes)
    }

    /// Checks a produced set: whole batches only, each passing ``RecordBatch/validate()``.
    ///
    /// Kafka's further Produce rules (for example exactly one batch per partition from v3) are the caller's.
    /// - Returns: The validated batches in order.
    /// - Throws: ``RecordBatchError``; a partial last batch is ``RecordBatchError/Code/truncated``.
    @discardableResult
    public func validateBatches() throws(RecordBatchError) -> [RecordBatch] {
        let (batches, partialTail) = try self.splitBatches()
        guard partialTail == 0 else {
            throw RecordBatchError(.truncated, "the record set ends with a partial batch of \(partialTail) byte(s)")
        }
        for batch in batches {
            try batch.validate()
        }
        return batches
    }
}
