import Foundation
import XCTest

@testable import Weft

/// The emulated fabric's hold: a bad deadline (NaN, huge) neither spins forever nor traps.
final class EmulatedFabricTests: XCTestCase {
    func testNaNDeadlineReturnsAtOnce() {
        let started = Date()
        EmulatedFabric.wait(until: .nan, now: { 0 })
        XCTAssertLessThan(Date().timeIntervalSince(started), 1)
    }

    /// A deadline beyond usleep's UInt32 of microseconds sleeps in short pieces: the clock
    /// jumps past it after the first, and the wait ends.
    func testHugeDeadlineSleepsInShortPieces() {
        var calls = 0
        let started = Date()
        EmulatedFabric.wait(until: 1e12, now: {
            calls += 1
            return calls == 1 ? 0 : 2e12
        })
        XCTAssertEqual(calls, 2)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1)
    }
}
