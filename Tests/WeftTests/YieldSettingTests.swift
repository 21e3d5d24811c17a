import Foundation
import XCTest

import Weft

/// WEFT_YIELD: 0 and 1 as given, unset or empty the default, anything else one line (the
/// same check serves weft and libweft-mpi.so).
final class YieldSettingTests: XCTestCase {
    override func tearDown() { unsetenv("WEFT_YIELD") }

    func testZeroOneAndUnsetAreAccepted() {
        for value in [nil, "", "0", "1"] {
            if let value { setenv("WEFT_YIELD", value, 1) } else { unsetenv("WEFT_YIELD") }
            XCTAssertNil(Runtime.yieldSettingError, "WEFT_YIELD=\(value ?? "unset")")
        }
    }

    func testOtherValuesAreOneLine() {
        for value in ["yes", "2", " 1", "true"] {
            setenv("WEFT_YIELD", value, 1)
            XCTAssertEqual(Runtime.yieldSettingError,
                           "WEFT_YIELD='\(value)' is not 0 (spin while waiting) or 1 (yield the core while waiting); unset, Weft yields where a node has more ranks than cores or Open MPI yields when idle")
        }
    }
}
