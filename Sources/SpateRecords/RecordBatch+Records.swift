public import NIOCore

extension RecordBatch {
    /// Returns the records section uncompressed: the section itself for uncompressed batches (no copy), otherwise
    /// the output of `compressor`.
    /// - Parameters:
    ///   - compressor: Decompresses the section; needed only when the batch is compressed.
    ///   - maxDecompressedSize: The most bytes decompression may produce (a guard against decompression bombs).
    /// - Throws: ``RecordBatchError`` with code ``RecordBatchError/Code/unknownCompression`` or
    ///   ``RecordBatchError/Code/compressorRequired``, or whatever `compressor` throws.
    public func uncompressedRecordsSection(
        using compressor: (any RecordsCompressor)?,
        maxDecompressedSize: Int
    ) throws -> ByteBuffer {
        let attributes = self.attributes
        guard let compression = attributes.compression else {
            throw RecordBatchError(.unknownCompression, "unknown compression codec ID \(attributes.compressionID)")
        }
        let section = self.recordsSection
        if compression == .none {
            return section
        }
        guard let compressor else {
            throw RecordBatchError(.compressorRequired, "the batch is compressed with \(compression)")
        }
        var output = ByteBuffer()
        try compressor.decompress(section, type: compression, maxSize: maxDecompressedSize, into: &output)
        return output
    }

    /// Decodes every record, decompressing first if the batch is compressed.
    ///
    /// Each record's `length` must match its contents, the number of records must equal ``recordCount``, and no
    /// bytes may follow the last record. Keys and values are slices of the (decompressed) section. For
    /// ``TimestampType/logAppendTime`` batches every record's ``Record/timestamp`` is ``maxTimestamp``.
    /// Call ``validate()`` first to check the CRC; this method does not.
    /// - Parameters:
    ///   - compressor: Decompresses the records; needed only when the batch is compressed.
    ///   - maxDecompressedSize: The most bytes decompression may produce.
    /// - Returns: The records in order.
    /// - Throws: ``RecordBatchError`` (``RecordBatchError/Code/invalidRecordCount``,
    ///   ``RecordBatchError/Code/recordCountMismatch``, ``RecordBatchError/Code/trailingBytes``,
    ///   ``RecordBatchError/Code/invalidRecord``, …), or whatever `compressor` throws.
    public func records(using compressor: (any RecordsCompressor)?, maxDecompressedSize: Int) throws -> [Record] {
        var section = try self.uncompressedRecordsSection(using: compressor, maxDecompressedSize: maxDecompressedSize)
        return try self.decodeRecords(from: &section)
    }

    /// Decodes ``recordCount`` records from an uncompressed records section, which must hold exactly those.
    public func decodeRecords(from section: inout ByteBuffer) throws(RecordBatchError) -> [Record] {
        let recordCount = self.recordCount
        guard recordCount >= 0 else {
            throw RecordBatchError(.invalidRecordCount, "recordCount \(recordCount) is negative")
        }
        guard Int(recordCount) <= section.readableBytes / Record.minimumEncodedSize else {
            throw RecordBatchError(
                .recordCountMismatch,
                "recordCount \(recordCount) cannot fit in \(section.readableBytes) byte(s) of records"
            )
        }
        let baseOffset = self.baseOffset
        let baseTimestamp = self.baseTimestamp
        let logAppendTime: Int64? = self.timestampType == .logAppendTime ? self.maxTimestamp : nil
        var records: [Record] = []
        records.reserveCapacity(Int(recordCount))
        for index in 0..<Int(recordCount) {
            guard section.readableBytes > 0 else {
                throw RecordBatchError(
                    .recordCountMismatch,
                    "recordCount is \(recordCount) but the records end after \(index)"
                )
            }
            records.append(
                try Record(
                    from: &section,
                    baseOffset: baseOffset,
                    baseTimestamp: baseTimestamp,
                    logAppendTime: logAppendTime
                )
            )
        }
        guard section.readableBytes == 0 else {
            throw RecordBatchError(
                .trailingBytes,
                "\(section.readableBytes) byte(s) follow the last of \(recordCount) record(s)"
            )
        }
        return records
    }
}
