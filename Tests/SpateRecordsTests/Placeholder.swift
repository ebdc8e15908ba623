import Testing
@testable import SpateRecords

@Suite struct PlaceholderTests {
    @Test func builds() {}
}
