/// Whether a descriptor's placement agrees with where MPI put the ranks.
///
/// Only one direction can be told reliably: two ranks the descriptor puts on one node (one
/// endpoint, or anywhere on a `single-node` network) share memory in the model, so MPI must
/// have put them on one host. The other way round — ranks on one host spread over a
/// network's endpoints — is how a cluster is emulated on one machine (all of launch/test's
/// topologies run so), and MPI's host names rarely match a descriptor's endpoint names.
public enum PlacementCheck {
    /// A pair of ranks on one node of the descriptor but on different hosts for MPI.
    public struct Mismatch: Equatable, Sendable {
        public let ranks: (Int, Int)
        /// The descriptor's node, e.g. "endpoint 'tux0'" or "the single node 'node'".
        public let node: String

        public static func == (a: Mismatch, b: Mismatch) -> Bool { a.ranks == b.ranks && a.node == b.node }
    }

    /// The first mismatch in rank order, if any. `placement[rank]` is the rank's endpoint;
    /// `hosts[h]` lists the ranks MPI put on host h (`Communicator.nodes()`).
    public static func mismatch(placement: [Int], network: Network, hosts: [[Int]]) -> Mismatch? {
        var hostOf = [Int](repeating: -1, count: placement.count)
        for (h, ranks) in hosts.enumerated() {
            for r in ranks where r < hostOf.count { hostOf[r] = h }
        }
        let oneNode = network.kind == .singleNode
        var first: [Int: Int] = [:]  // descriptor node → first rank on it
        for (rank, endpoint) in placement.enumerated() {
            let node = oneNode ? 0 : endpoint
            guard let other = first[node] else {
                first[node] = rank
                continue
            }
            if hostOf[other] != hostOf[rank] {
                let name = oneNode ? "the single node '\(network.switchNames.first ?? "node")'"
                    : "endpoint '\(network.endpointNames[endpoint])'"
                return Mismatch(ranks: (other, rank), node: name)
            }
        }
        return nil
    }

    /// The one line for a mismatch: what the file says, what MPI did, what to change.
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String

        public init(file: String, _ mismatch: Mismatch, hostNames: (String, String)) {
            let (a, b) = mismatch.ranks
            let hosts = hostNames.0 == hostNames.1 ? "two different hosts (both named \(hostNames.0))"
                : "hosts \(hostNames.0) and \(hostNames.1)"
            description = "topology \(file) places ranks \(a) and \(b) on one node (\(mismatch.node)) but MPI put them "
                + "on \(hosts); fix the descriptor's placement or the rank layout"
        }
    }
}
