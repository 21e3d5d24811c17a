import CWeft
import Foundation

/// What pulls between ranks of one node need in a communicator that spans nodes (see
/// `NodePulls` and CWeft's pull.c): the node's shared pull block, each rank's slot in it
/// and process id, and the number of scheduled calls so far.
final class NodePullState {
    let nodeOf: [Int]
    /// By communicator rank, at addresses that stay put (the executor reads them every call).
    let slots: UnsafeMutableBufferPointer<Int32>
    let pids: UnsafeMutableBufferPointer<Int32>
    let control: SharedSegments
    /// Scheduled calls on the communicator so far, the same on every rank (all run the same
    /// collectives in turn); a pull waits for progress within this call.
    var calls: Int64 = 0
    private let node: Communicator

    private init(nodeOf: [Int], slots: [Int32], pids: [Int32], control: SharedSegments, node: Communicator) {
        self.nodeOf = nodeOf
        self.slots = .allocate(capacity: slots.count)
        _ = self.slots.initialize(from: slots)
        self.pids = .allocate(capacity: pids.count)
        _ = self.pids.initialize(from: pids)
        self.control = control
        self.node = node
    }

    deinit {
        slots.deallocate()
        pids.deallocate()
    }

    /// Collective over `communicator`. Nil — on every rank alike — when no node has two
    /// ranks, when `WEFT_CROSS_MEMORY=0`, when MPI cannot make a node's shared window, or
    /// when some rank cannot read a node-mate's memory (process_vm_readv forbidden, e.g. by
    /// ptrace rules in a container).
    static func make(_ communicator: Communicator, nodes: [[Int]]) throws -> NodePullState? {
        guard nodes.contains(where: { $0.count > 1 }) else { return nil }
        var nodeOf = [Int](repeating: 0, count: communicator.size)
        var slots = [Int32](repeating: -1, count: communicator.size)
        for (index, members) in nodes.enumerated() {
            for (slot, rank) in members.enumerated() {
                nodeOf[rank] = index
                slots[rank] = Int32(slot)
            }
        }
        // Only node-mates have a slot in this rank's pull block (the executor rejects others).
        for rank in 0..<communicator.size where nodeOf[rank] != nodeOf[communicator.rank] { slots[rank] = -1 }
        let node = try communicator.nodeCommunicator()
        // A node's shared window is the one window pulls need; where MPI cannot make one,
        // the ranks agree below to go on with messages.
        let control = try? SharedSegments(communicator: node, bytes: Int(weft_pull_control_bytes(Int32(node.size))))
        var pids = [Int32](repeating: 0, count: communicator.size)
        pids[communicator.rank] = getpid()
        try pids.withUnsafeMutableBufferPointer { try communicator.allgather($0, algorithm: .mpi) }
        // Each rank reads a word of its next node-mate's memory; every rank must succeed.
        let probe = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        defer { probe.deallocate() }
        probe.pointee = 0x77656674
        if let control {
            weft_pull_probe_word(control.bases[0], Int32(node.rank)).pointee = UInt64(UInt(bitPattern: probe))
        }
        try node.barrier(algorithm: .mpi)
        let members = nodes[nodeOf[communicator.rank]]
        let mate = members[(node.rank + 1) % members.count]
        let disabled = CrossMemorySetting.disabled
        var readable = false
        if let control, !disabled, slots[communicator.rank] == Int32(node.rank), node.size == members.count {
            let address = weft_pull_probe_word(control.bases[0], Int32(slots[mate])).pointee
            readable = weft_cross_memory_probe(pids[mate], UnsafeRawPointer(bitPattern: UInt(address)), 8) != 0
        }
        var ok: [Int32] = [readable ? 1 : 0]
        try ok.withUnsafeMutableBufferPointer { try communicator.allreduce($0, op: .min, algorithm: .mpi) }
        guard ok[0] == 1, let control else {
            control?.free()
            return nil
        }
        return NodePullState(nodeOf: nodeOf, slots: slots, pids: pids, control: control, node: node)
    }
}
