public import NIOCore

/// Tagged fields (KIP-482) by tag, holding each field's raw bytes. Messages keep the tags they do not know in one of
/// these so that they survive a decode and re-encode.
public struct TaggedFields: Hashable, Sendable, ExpressibleByDictionaryLiteral {
    public var storage: [UInt32: ByteBuffer]

    public init() {
        self.storage = [:]
    }

    public init(dictionaryLiteral elements: (UInt32, ByteBuffer)...) {
        self.storage = Dictionary(elements, uniquingKeysWith: { _, last in last })
    }

    public subscript(tag: UInt32) -> ByteBuffer? {
        get { self.storage[tag] }
        set { self.storage[tag] = newValue }
    }

    public var isEmpty: Bool { self.storage.isEmpty }
}

/// Collects the tagged fields of one struct and writes them in strictly ascending tag order.
public struct TaggedFieldsWriter {
    @usableFromInline var fields: [(tag: UInt32, data: ByteBuffer)]

    public init(unknown: TaggedFields) {
        self.fields = unknown.storage.map { ($0.key, $0.value) }
    }

    /// Adds a known field; its bytes are written by `body`. A known field replaces an unknown one with the same tag.
    public mutating func add(tag: UInt32, _ body: (inout ByteBuffer) throws(WireError) -> Void) throws(WireError) {
        var data = ByteBuffer()
        try body(&data)
        self.fields.removeAll { $0.tag == tag }
        self.fields.append((tag, data))
    }

    /// Writes the count, then each field as `uvarint tag, uvarint size, bytes`.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeUnsignedVarInt(UInt32(self.fields.count))
        for field in self.fields.sorted(by: { $0.tag < $1.tag }) {
            buffer.writeUnsignedVarInt(field.tag)
            buffer.writeUnsignedVarInt(UInt32(field.data.readableBytes))
            var data = field.data
            buffer.writeBuffer(&data)
        }
    }
}
