import Foundation
import XCTest

import CWeft
import Weft

/// WEFT_ACROSS: sockets and mpi as given, unset or empty by this host's devices, anything
/// else one line (the same check serves weft and libweft-mpi.so).
final class AcrossSettingTests: XCTestCase {
    override func tearDown() { unsetenv("WEFT_ACROSS") }

    func testSocketsAndMpiAreTaken() {
        setenv("WEFT_ACROSS", "sockets", 1)
        XCTAssertNil(Runtime.acrossSettingError)
        XCTAssertTrue(Runtime.socketsAcrossNodes)
        setenv("WEFT_ACROSS", "mpi", 1)
        XCTAssertNil(Runtime.acrossSettingError)
        XCTAssertFalse(Runtime.socketsAcrossNodes)
    }

    /// Unset: sockets exactly where the host has no RDMA device (this machine's answer is
    /// whatever /sys says; the rule is that the two agree).
    func testUnsetFollowsTheDevices() throws {
        for value in [nil, ""] {
            if let value { setenv("WEFT_ACROSS", value, 1) } else { unsetenv("WEFT_ACROSS") }
            XCTAssertNil(Runtime.acrossSettingError)
            XCTAssertEqual(Runtime.socketsAcrossNodes, weft_has_rdma_device() == 0)
        }
        // A host without such devices has no folder at all; a folder that exists must be readable.
        var listed = false
        for folder in ["/sys/class/infiniband", "/sys/class/cxi"] where FileManager.default.fileExists(atPath: folder) {
            let entries = try FileManager.default.contentsOfDirectory(atPath: folder)
            if entries.contains(where: { !$0.hasPrefix(".") }) { listed = true }
        }
        XCTAssertEqual(weft_has_rdma_device() != 0, listed)
    }

    func testOtherValuesAreOneLine() {
        for value in ["tcp", "Sockets", "1", " mpi"] {
            setenv("WEFT_ACROSS", value, 1)
            XCTAssertEqual(Runtime.acrossSettingError,
                           "WEFT_ACROSS='\(value)' is not sockets (Weft's own TCP connections between nodes) or mpi (Open MPI's point-to-point); unset, Weft uses sockets where this host has no RDMA device")
            XCTAssertFalse(Runtime.socketsAcrossNodes)
        }
    }
}
