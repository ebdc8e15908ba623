import Testing
@testable import SpateWire

@Suite struct PlaceholderTests {
    @Test func builds() {}
}
