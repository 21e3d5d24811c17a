import XCTest

@testable import WeftTopology

/// A Slurm topology.conf's mistakes name its own line and switch, not the custom
/// descriptor's internal keys (`link[2].b`, `endpoint[2].name`) the user never wrote.
final class SlurmLinesTests: XCTestCase {
    func error(_ text: String) -> String {
        errorText { _ = try SlurmTopology.parse(text, file: "t.conf").build() }
    }

    func testSlurmMistakesNameTheirLine() {
        XCTAssertEqual(error("SwitchName=leaf1 Nodes=n[0-1]\nSwitchName=leaf1 Nodes=n[2-3]\nSwitchName=spine Switches=leaf1\n"),
                       "t.conf:2: key 'SwitchName': switch leaf1 is already defined on line 1; give each switch one line")
        XCTAssertEqual(error("SwitchName=spine Switches=leaf[1-2]\nSwitchName=leaf1 Nodes=n[0-1]\nSwitchName=leaf2 Nodes=n[1-2]\n"),
                       "t.conf:3: key 'Nodes': node n1 under switch leaf2 is already under leaf1 on line 2; list each node once")
        XCTAssertEqual(error("# spine\nSwitchName=spine Switches=leaf[1-3]\nSwitchName=leaf1 Nodes=n[0-1]\nSwitchName=leaf2 Nodes=n[2-3]\n"),
                       "t.conf:2: key 'Switches': switch leaf3 under switch spine has no SwitchName= line; add one or drop it from Switches=")
        XCTAssertEqual(error("SwitchName=s1 Switches=leaf\nSwitchName=s2 Switches=leaf\nSwitchName=leaf Nodes=n[0-3]\n"),
                       "t.conf:2: key 'Switches': switch leaf is listed under both s1 and s2; the tree plugin needs one parent per switch")
    }
}
