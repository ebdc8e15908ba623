import Testing
@testable import SpateCompression

@Suite struct PlaceholderTests {
    @Test func builds() {}
}
