import XCTest

@testable import WeftTopology

/// A descriptor that puts ranks on one node which MPI put on different hosts is refused;
/// ranks of one host spread over a network's endpoints (emulation) are not.
final class PlacementCheckTests: XCTestCase {
    func network(_ text: String) throws -> (Descriptor, Network) {
        let d = try Descriptor.parse(text, file: "t.toml")
        return (d, try d.build())
    }

    func testSingleNodeDescriptorOnTwoHostsIsNamed() throws {
        let (d, n) = try network("kind = \"single-node\"\nendpoints = 4\n")
        let placement = try Placement.endpoints(ranks: 4, network: n, descriptor: d)
        XCTAssertNil(PlacementCheck.mismatch(placement: placement, network: n, hosts: [[0, 1, 2, 3]]))
        let mismatch = PlacementCheck.mismatch(placement: placement, network: n, hosts: [[0, 2], [1, 3]])
        XCTAssertEqual(mismatch?.ranks.0, 0)
        XCTAssertEqual(mismatch?.ranks.1, 1)
        XCTAssertEqual("\(PlacementCheck.Failure(file: "t.toml", mismatch!, hostNames: ("a", "b")))",
                       "topology t.toml places ranks 0 and 1 on one node (the single node 'node') but MPI put them on hosts a and b; fix the descriptor's placement or the rank layout")
    }

    func testEmulatingAFabricOnOneHostIsAllowed() throws {
        let (d, n) = try network("kind = \"fat-tree\"\nk = 4\n")
        let placement = try Placement.endpoints(ranks: 4, network: n, descriptor: d)
        XCTAssertNil(PlacementCheck.mismatch(placement: placement, network: n, hosts: [[0, 1, 2, 3]]))
        XCTAssertNil(PlacementCheck.mismatch(placement: placement, network: n, hosts: [[0], [1], [2], [3]]))
    }

    func testTwoRanksOnOneEndpointMustShareAHost() throws {
        // A `hosts` placement may name one endpoint twice: those ranks share a host.
        let (_, n) = try network("kind = \"fat-tree\"\nk = 4\n")
        XCTAssertNil(PlacementCheck.mismatch(placement: [0, 0, 1], network: n, hosts: [[0, 1], [2]]))
        let mismatch = PlacementCheck.mismatch(placement: [0, 1, 0], network: n, hosts: [[0, 1], [2]])
        XCTAssertEqual(mismatch?.node, "endpoint '\(n.endpointNames[0])'")
        XCTAssertEqual(mismatch?.ranks.0, 0)
        XCTAssertEqual(mismatch?.ranks.1, 2)
    }
}
