import CWeftInterpose
import Foundation
import Weft
import WeftTopology

/// Policy for libweft-mpi.so, called from its C entry points: the configuration read once
/// at MPI_Init, `auto`'s decision per communicator as size ranges, and compiled schedules.
/// MPI calls never come through here, so this layer never re-enters the MPI library.
enum InterposePolicy {
    /// Set once by `weft_ip_configure` (in MPI_Init, before any collective runs).
    nonisolated(unsafe) static var choice = AutoChoice(forced: nil)
    nonisolated(unsafe) static var programs: [ProgramKey: Compiled] = [:]

    struct ProgramKey: Hashable {
        var key: CompiledProgram.Key
        var rank: Int
        var pulls: Bool
    }

    /// A program lowered for the C executor; its operations live until the process exits.
    final class Compiled {
        let operations: UnsafeMutableBufferPointer<weft_schedule_op_t>
        let program: CompiledProgram
        /// The node layout a node-aware program was built for (communicators of one size
        /// can lie across nodes differently).
        let nodes: [[Int]]?
        init(_ program: CompiledProgram, nodes: [[Int]]?) {
            self.program = program
            self.nodes = nodes
            operations = .allocate(capacity: max(program.operations.count, 1))
            _ = operations.initialize(from: program.operations)
        }
    }

    static let algorithms = Algorithm.allCases
    static let collectives = Collective.allCases

    /// `nodeKeys` and `hostNames` (per world rank) say where MPI put the ranks, to check a
    /// descriptor's placement against (`PlacementCheck`).
    static func configure(worldSize: Int, nodeKeys: [Int]? = nil, hostNames: [String]? = nil) throws {
        let environment = ProcessInfo.processInfo.environment
        if let error = AlgorithmSelector.environmentError { throw InterposeError(error) }
        let forced = AlgorithmSelector.environmentOverride
        var tuning: Plan?
        if let path = environment["WEFT_TUNING"], !path.isEmpty {
            do { tuning = try Plan.load(path) } catch { throw InterposeError("WEFT_TUNING: \(error)") }
        }
        var network: NetworkContext?
        if let path = environment["WEFT_TOPOLOGY"], !path.isEmpty {
            do { network = try NetworkContext(path: path, ranks: worldSize) } catch {
                throw InterposeError("WEFT_TOPOLOGY: \(error)")
            }
            if let network, let nodeKeys, let hostNames,
               let mismatch = PlacementCheck.mismatch(placement: network.placement, network: network.network,
                                                      hosts: TwoLevel.nodes(fromKeys: nodeKeys))
            {
                let failure = PlacementCheck.Failure(file: path, mismatch, hostNames: (hostNames[mismatch.ranks.0],
                                                                                      hostNames[mismatch.ranks.1]))
                throw InterposeError("\(failure)")
            }
        }
        if let forced, forced.needsTopology, network == nil {
            throw InterposeError("WEFT_ALGO=\(forced.rawValue) needs a descriptor: set WEFT_TOPOLOGY, or choose an algorithm that does not")
        }
        if let error = CrossMemorySetting.environmentError { throw InterposeError(error) }
        if let tuning, network == nil, let rule = tuning.rules.first(where: { $0.algorithm.needsTopology }) {
            throw InterposeError("WEFT_TUNING: \(tuning.source): a \(rule.collective.rawValue) rule names '\(rule.algorithm.rawValue)', which needs WEFT_TOPOLOGY")
        }
        choice = AutoChoice(forced: forced, tuning: tuning, network: network, selector: .crossMemory)
    }

    /// Whether `algorithm` can run `collective` on a communicator of this kind.
    static func serves(_ collective: Collective, _ algorithm: Algorithm, nodeLocal: Bool, crossMemory: Bool,
                       worldCongruent: Bool) -> Bool {
        switch algorithm {
        case .mpi: return true
        case .auto: return false
        case .direct: if !(nodeLocal && crossMemory) { return false }
        default: if algorithm.needsTopology && !(worldCongruent && choice.network != nil) { return false }
        }
        return Schedules.collectives(servedBy: algorithm).contains(collective)
    }

    static func rules(_ collective: Collective, ranks: Int, nodeLocal: Bool, crossMemory: Bool, worldCongruent: Bool,
                      placement: NodePlacement = .other, sockets: Bool = false)
        -> [(bytes: Range<Int>, algorithm: Algorithm)]
    {
        var local = choice
        // A descriptor's plan and placement describe MPI_COMM_WORLD's ranks only.
        if !worldCongruent { local.network = nil }
        return local.ranges(collective, ranks: ranks, nodeLocal: nodeLocal, registered: crossMemory,
                            buffers: .ordinary,
                            // pulls inside nodes need cross-memory attach
                            placement: placement.ruling(pulls: crossMemory), sockets: sockets).map {
            let feasible = serves(collective, $0.algorithm, nodeLocal: nodeLocal, crossMemory: crossMemory,
                                  worldCongruent: worldCongruent)
            return ($0.bytes, feasible ? $0.algorithm : .mpi)
        }
    }

    /// `pulls`: the communicator has a pull block, so transfers between node-mates that
    /// `NodePulls` picks read the sender's buffer (nodes are told apart by their keys).
    static func program(_ collective: Collective, _ algorithm: Algorithm, ranks: Int, rank: Int, root: Int, bytes: Int,
                        worldCongruent: Bool, nodeKeys: [Int]?, pulls: Bool = false) throws -> Compiled {
        let segments = Schedules.segments(for: collective, algorithm: algorithm, bytes: bytes, ranks: ranks)
        let key = CompiledProgram.Key(collective: collective, algorithm: algorithm, ranks: ranks,
                                      root: collective.isRooted ? root : 0, segments: segments)
        let programKey = ProgramKey(key: key, rank: rank, pulls: pulls)
        let nodes = nodeKeys.map(TwoLevel.nodes(fromKeys:))
        // A node-aware program, and any program with pulls (which transfers pull depends on
        // where the ranks are), is only reused on the same node layout.
        if let compiled = programs[programKey], !(algorithm.needsNodeLayout || pulls) || compiled.nodes == nodes {
            return compiled
        }
        if algorithm.needsNodeLayout && nodes == nil {
            throw InterposeError("algorithm '\(algorithm.rawValue)' needs the node layout")
        }
        if algorithm.needsTopology && !(choice.network != nil && worldCongruent) {
            throw InterposeError("algorithm '\(algorithm.rawValue)' needs WEFT_TOPOLOGY and MPI_COMM_WORLD's ranks")
        }
        let network = algorithm.needsTopology ? choice.network : nil
        let schedule = try Schedules.make(collective, algorithm: algorithm, ranks: ranks, root: key.root,
                                          segments: segments, network: network?.network,
                                          placement: network?.placement, nodes: nodes)
        let nodePulls = pulls ? nodeKeys.map(NodePulls.init(nodeOf:)) : nil
        let compiled = Compiled(CompiledProgram(schedule: schedule, rank: rank, key: key, pulls: nodePulls), nodes: nodes)
        programs[programKey] = compiled
        return compiled
    }
}

struct InterposeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Copies `text` into a C buffer of `length` bytes, NUL-terminated.
func write(_ text: String, to buffer: UnsafeMutablePointer<CChar>?, length: Int32) {
    guard let buffer, length > 0 else { return }
    let bytes = Array(text.utf8.prefix(Int(length) - 1))
    for (i, b) in bytes.enumerated() { buffer[i] = CChar(bitPattern: b) }
    buffer[bytes.count] = 0
}
