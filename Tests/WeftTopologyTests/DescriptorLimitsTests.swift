import XCTest

@testable import WeftTopology

/// Values no real network has are refused at load with one line naming the key: their
/// times and costs overflowed to inf, which printed as an empty JSON line and exit 0.
final class DescriptorLimitsTests: XCTestCase {
    func error(_ text: String) -> String {
        errorText { _ = try Descriptor.parse(text, file: "t.toml").build() }
    }

    func testLinkValuesBeyondAnyNetworkAreRefused() {
        XCTAssertEqual(error("kind = \"fat-tree\"\nk = 4\n[links.fabric]\nbandwidth = \"25GB/s\"\nprice = 1e308\n"),
                       "t.toml: key 'links.fabric.price': must be a number 0…1e9 (the price of one cable), got 1e+308")
        XCTAssertEqual(error("kind = \"fat-tree\"\nk = 4\n[links.fabric]\nbandwidth = \"25GB/s\"\nprice = inf\n"),
                       "t.toml: key 'links.fabric.price': must be a number 0…1e9 (the price of one cable), got inf")
        XCTAssertEqual(error("kind = \"fat-tree\"\nk = 4\n[links.host]\nbandwidth = \"25GB/s\"\nlatency = \"1e308s\"\n"),
                       "t.toml: key 'links.host.latency': '1e308s' is outside 0…10s, the range Weft models; give the link's real latency")
        XCTAssertEqual(error("kind = \"fat-tree\"\nk = 4\n[links.host]\nbandwidth = \"1e-300GB/s\"\n"),
                       "t.toml: key 'links.host.bandwidth': '1e-300GB/s' is outside 1KB/s…1000TB/s, the range Weft models; give the link's real bandwidth")
        XCTAssertEqual(error("kind = \"fat-tree\"\nk = 4\n[cost]\nport = 1e300\n"),
                       "t.toml: key 'cost.port': must be a number 0…1e9 (the price of one switch port), got 1e+300")
        XCTAssertEqual(error("kind = \"fat-tree\"\nk = 4\noversubscription = 1e308\n"),
                       "t.toml: key 'oversubscription': must be a number 1…1000 (e.g. 2 for 2:1)")
        // The edges of the ranges are real values and load.
        XCTAssertEqual(error("kind = \"fat-tree\"\nk = 4\n[links.host]\nbandwidth = \"1000TB/s\"\nlatency = \"10s\"\nprice = 1e9\n"),
                       "no error")
    }
}
