import BenchmarkSupport
import NIOCore
import SpateCompression

// Prints the compression ratio of each codec on the exact input of CompressionBenchmarks.
let input = jsonLogLines(count: oneMiB)
let codecs: [(name: String, codec: any CompressionCodec)] = [
    ("gzip", GzipCodec()),
    ("snappy", SnappyCodec()),
    ("lz4", LZ4Codec()),
    ("zstd", ZstdCodec()),
]
print("input: \(input.readableBytes) bytes of JSON log lines (seed 7)")
print("sample: \(String(buffer: input.getSlice(at: input.readerIndex, length: 220)!))")
for (name, codec) in codecs {
    var output = ByteBuffer()
    try codec.compress(input, into: &output)
    let ratio = Double(input.readableBytes) / Double(output.readableBytes)
    let formatted = (ratio * 100).rounded() / 100
    print("\(name): \(output.readableBytes) bytes, ratio \(formatted):1")
}
