import Foundation
import XCTest

@testable import WeftTopology

/// Hosts of several ranks behind one NIC (`[placement] ranks_per_endpoint`): the layout,
/// its errors, the planner weighing `two-level` only there, and the simulated two-level
/// schedule against closed forms for what crosses the host link and how long it takes.
final class ClusterModelTests: XCTestCase {
    /// Two hosts on one switch: 1 GB/s, 10 µs links; copies inside a host 4 GB/s, 1 µs.
    static func twoHosts(ranksPerEndpoint k: Int) -> String {
        """
        kind = "custom"
        [[switch]]
        name = "bridge"
        [[endpoint]]
        name = "h1"
        switch = "bridge"
        [[endpoint]]
        name = "h2"
        switch = "bridge"
        [links.terminal]
        bandwidth = "1GB/s"
        latency = "10us"
        [links.memory]
        bandwidth = "4GB/s"
        latency = "1us"
        [placement]
        ranks_per_endpoint = \(k)
        """
    }

    func fatTree(_ placement: String) -> String { "kind = \"fat-tree\"\nk = 4\nlevels = 2\n[placement]\n\(placement)\n" }

    func placement(_ text: String, ranks: Int) throws -> [Int] {
        let d = try Descriptor.parse(text, file: "t.toml")
        return try Placement.endpoints(ranks: ranks, network: try d.build(), descriptor: d)
    }

    func error(_ text: String, ranks: Int) -> String {
        errorText { _ = try placement(text, ranks: ranks) }
    }

    // MARK: - Placement

    func testRanksPerEndpointPutsConsecutiveRanksOnOneEndpoint() throws {
        // 2-level fat tree k=4: 8 endpoints, 2 per leaf switch.
        XCTAssertEqual(try placement(fatTree("ranks_per_endpoint = 3"), ranks: 8), [0, 0, 0, 1, 1, 1, 2, 2])
        XCTAssertEqual(Placement.nodes([0, 0, 0, 1, 1, 1, 2, 2]), [[0, 1, 2], [3, 4, 5], [6, 7]])
        // Round-robin orders the endpoints (one per leaf in turn); each still takes k ranks.
        let spread = try placement(fatTree("policy = \"round-robin\"\nranks_per_endpoint = 2"), ranks: 6)
        XCTAssertEqual(spread, [0, 0, 2, 2, 4, 4])
        let hosts = try placement(fatTree("hosts = [\"h3\", \"h0\"]\nranks_per_endpoint = 2"), ranks: 3)
        let n = try Descriptor.parse(fatTree("ranks_per_endpoint = 1"), file: "t.toml").build()
        XCTAssertEqual(hosts.map { n.endpointNames[$0] }, ["h3", "h3", "h0"])
        XCTAssertEqual(try placement(fatTree("ranks_per_endpoint = 1"), ranks: 3), [0, 1, 2])
        XCTAssertTrue(Placement.sharesEndpoints([0, 0, 1]))
        XCTAssertFalse(Placement.sharesEndpoints([0, 1, 2]))
    }

    func testRanksPerEndpointErrorsAreOneLineNamingTheKey() {
        XCTAssertEqual(error(fatTree("ranks_per_endpoint = 4"), ranks: 33),
                       "t.toml: key 'placement': 33 ranks exceed the network's 8 endpoints × 4 ranks per endpoint = 32; use fewer ranks or a larger network")
        XCTAssertEqual(error(fatTree("ranks_per_endpoint = 4"), ranks: 32), "no error")
        XCTAssertEqual(error(fatTree("ranks_per_endpoint = 0"), ranks: 1),
                       "t.toml: key 'placement.ranks_per_endpoint': must be an integer 1…1024 (ranks per host behind one NIC), got 0")
        XCTAssertEqual(error(fatTree("ranks_per_endpoint = 1025"), ranks: 1),
                       "t.toml: key 'placement.ranks_per_endpoint': must be an integer 1…1024 (ranks per host behind one NIC), got 1025")
        XCTAssertEqual(error(fatTree("ranks_per_endpoint = \"2\""), ranks: 1),
                       "t.toml: key 'placement.ranks_per_endpoint': must be an integer 1…1024 (ranks per host behind one NIC), got a string")
        XCTAssertEqual(error(fatTree("ranks_per_host = 2"), ranks: 1),
                       "t.toml: key 'placement.ranks_per_host': unknown (allowed: policy, seed, hosts, ranks_per_endpoint)")
        XCTAssertEqual(error(fatTree("hosts = [\"h0\"]\nranks_per_endpoint = 2"), ranks: 3),
                       "t.toml: key 'placement.hosts': lists 1 hosts for 2 endpoints of 2 ranks; list at least 2")
    }

    /// TOMLKit's toml++ aborts on a nameless table header; the fuzzer found `[# …`.
    func testNamelessTableHeadersAreRefusedNotAborted() {
        for header in ["[# 16 endpoints", "[", "[[ =", " [.", "[,"] {
            XCTAssertEqual(error("kind = \"fat-tree\"\nk = 4\n\(header)\n", ranks: 1),
                           "t.toml:3: malformed TOML: a table header needs a name, e.g. [links.global]", header)
        }
        XCTAssertEqual(error("kind = \"fat-tree\"\nk = 4\n[ placement ]\npolicy = \"linear\"\n", ranks: 1), "no error")
    }

    /// `[links.memory]` sets the copy speed inside a host on any kind without adding a link class.
    func testMemoryClassDescribesCopiesInsideAHost() throws {
        let plain = try Descriptor.parse(fatTree("ranks_per_endpoint = 2"), file: "t.toml").build()
        XCTAssertEqual(plain.memory.bandwidth, 10e9)
        let tuned = try Descriptor.parse("kind = \"fat-tree\"\nk = 4\n[links.memory]\nbandwidth = \"5GB/s\"\nlatency = \"1us\"\n",
                                         file: "t.toml").build()
        XCTAssertEqual(tuned.memory.bandwidth, 5e9)
        XCTAssertEqual(tuned.memory.latency, 1e-6)
        XCTAssertEqual(Set(tuned.classes.map(\.name)), ["host", "fabric"])
    }

    // MARK: - Planner

    func testPlannerWeighsTwoLevelOnlyWithHostsOfSeveralRanks() throws {
        func algorithms(_ k: Int, ranks: Int) throws -> Set<Algorithm> {
            let d = try Descriptor.parse(Self.twoHosts(ranksPerEndpoint: k), file: "t.toml")
            let n = try d.build()
            let comparison = try PlanComparison(network: n, descriptor: d, ranks: ranks)
            XCTAssertEqual(Plan.candidates(.allreduce, network: n, placement: comparison.placement).contains(.twoLevel), k > 1)
            return Set(comparison.compare(.allreduce, sizes: [1 << 20], linkLoads: false)[0].map(\.algorithm))
        }
        XCTAssertTrue(try algorithms(2, ranks: 4).contains(.twoLevel))
        XCTAssertFalse(try algorithms(1, ranks: 2).contains(.twoLevel))
        XCTAssertTrue(try algorithms(1, ranks: 2).contains(.ring))
        // Without a placement (as before) the planner never weighs it.
        let n = try Descriptor.parse(Self.twoHosts(ranksPerEndpoint: 2), file: "t.toml").build()
        XCTAssertFalse(Plan.candidates(.allreduce, network: n).contains(.twoLevel))
    }

    // MARK: - Simulation

    /// Two-level on N = 2 hosts of k = 2 ranks: each rank's shard owner sends (N−1)/N of its
    /// M/k shard out and takes as much in, per phase, so a host link carries
    /// k · 2(N−1)/N · M/k = M per direction — a flat ring on the same ranks carries 2(n−1)/n · M
    /// = 1.5 M through the link between the hosts. Inside a host each rank copies (k−1)/k · M
    /// out per phase, 2(k−1) · M through the host's memory. The time is four steps in closed
    /// form: copies of M/2 by both ranks sharing 4 GB/s, pieces of M/4 from both owners
    /// sharing a 1 GB/s direction, each step plus its latency and the software overhead.
    func testTwoLevelAcrossTwoHostsMatchesItsClosedForm() throws {
        let d = try Descriptor.parse(Self.twoHosts(ranksPerEndpoint: 2), file: "t.toml")
        let n = try d.build()
        let placement = try Placement.endpoints(ranks: 4, network: n, descriptor: d)
        XCTAssertEqual(placement, [0, 0, 1, 1])
        let simulator = Simulator(network: n, router: Router(network: n, policy: d.routing), placement: placement)
        let m = 16 << 20
        let twoLevel = try Schedules.make(.allreduce, algorithm: .twoLevel, ranks: 4, network: n, placement: placement,
                                          nodes: Placement.nodes(placement))
        let ring = try Schedules.make(.allreduce, algorithm: .ring, ranks: 4)
        func load(_ schedule: Schedule, _ linkClass: String) -> Double {
            simulator.linkLoads(schedule, bytes: m).first { $0.link_class == linkClass }?.bytes ?? 0
        }
        XCTAssertEqual(load(twoLevel, "terminal"), Double(m))
        XCTAssertEqual(load(twoLevel, "memory"), Double(2 * m))
        XCTAssertEqual(load(ring, "terminal"), 1.5 * Double(m))

        let memoryStep = 1e-6 + Double(m) / 4e9
        let linkStep = 2 * 10e-6 + Double(m / 2) / 1e9
        let expected = 2 * memoryStep + 2 * linkStep + 4 * simulator.overhead
        XCTAssertEqual(simulator.simulate(twoLevel, bytes: m).time_us, expected * 1e6, accuracy: 1e-3)
    }
}
