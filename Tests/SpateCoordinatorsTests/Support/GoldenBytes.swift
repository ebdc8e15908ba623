/// Parses an annotated hex dump: whitespace-separated hex bytes, `#` starts a comment that runs to the end of the line.
func annotatedBytes(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    for line in text.split(separator: "\n") {
        let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        for token in code.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            guard let byte = UInt8(token, radix: 16) else { fatalError("bad golden byte \(token)") }
            bytes.append(byte)
        }
    }
    return bytes
}
