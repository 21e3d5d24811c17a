import Foundation
import CWeft
import WeftTopology

/// A group of ranks that run collectives together — the Swift face of the transport.
///
/// Every collective works in place on the caller's buffer and takes an `algorithm`:
/// a scheduled one (ring, tree, …), `mpi` for Open MPI's own, or `auto` for the
/// selection table. All ranks must call the same collectives in the same order with the
/// same counts; a peer that never arrives fails the call after `Runtime.timeout`.
public final class Communicator {
    let handle: weft_comm_t
    public let rank: Int
    public let size: Int
    /// Whether every rank shares this node (so `direct` and registered buffers work).
    public let isNodeLocal: Bool
    /// `WEFT_ALGO`: the algorithm `.auto` always picks when set (tests set it directly).
    var forced = AlgorithmSelector.environmentOverride { didSet { autoChoices = [:] } }
    /// Chooses the algorithm for `.auto` where no tuning file or plan rule applies.
    public var selector = AlgorithmSelector.measured { didSet { autoChoices = [:] } }
    /// The network the ranks run on (`--topology`, `WEFT_TOPOLOGY`): enables the
    /// topology-aware algorithms, and `auto` follows its plan.
    public var network: NetworkContext? { didSet { autoChoices = [:] } }
    /// A tuning file's rules (`--tuning`, `WEFT_TUNING`): `auto` follows them first.
    public var tuning: Plan? { didSet { autoChoices = [:] } }
    /// When set, scheduled algorithms run on the emulated fabric (`--emulate`); Open MPI's
    /// own collectives (`mpi`) are not held — their inner steps are not Weft's to see.
    public var fabric: EmulatedFabric?

    /// Bytes this rank handed to collectives and seconds spent in them, for accounting.
    public private(set) var collectiveBytes = 0
    public private(set) var collectiveSeconds = 0.0
    /// Transfers this rank read from a node-mate's buffer (pulls) rather than received.
    package private(set) var pulledTransfers = 0

    private var programs: [CompiledProgram.Key: CompiledProgram] = [:]
    private var registered: [WeakSegments] = []
    private var control: SharedSegments?
    /// Peers' process ids when cross-memory attach works between them (probed once, on the
    /// first `direct` call on ordinary buffers); empty when it does not.
    private var crossMemoryPids: [Int32]?
    private var nodeLayout: [[Int]]?
    /// Every rank's host, learnt with the first program across nodes, so that a timeout can
    /// say where the rank that did not answer runs.
    private var peerHosts: [String]?
    /// Whether messages across nodes go over Weft's own sockets (`Runtime.socketsAcrossNodes`,
    /// agreed by every rank when the first program or `auto` decision across nodes is made).
    package private(set) var socketsOpened = false
    private var staging: SharedSegments?
    /// Pulls inside each node for programs across nodes: set up with the first such program;
    /// `.some(nil)` where they cannot run (see `NodePullState.make`).
    private var nodePullState: NodePullState??
    private var scratch: UnsafeMutableRawPointer?
    private var scratchBytes = 0

    private struct WeakSegments {
        weak var segments: SharedSegments?
        /// Node-mates' segments of the window as pulls see them (communicators across nodes).
        var maps: [weft_pull_map_t]
    }
    /// This rank's node (`nodeCommunicator()`), split once for registered windows and pulls.
    private var node: Communicator?

    init(handle: weft_comm_t) {
        self.handle = handle
        rank = Int(weft_comm_rank(handle))
        size = Int(weft_comm_size(handle))
        isNodeLocal = weft_comm_is_node_local(handle) != 0
    }

    /// Every rank of the job (initialises MPI on first use).
    public static func world() throws -> Communicator {
        try Runtime.initialize()
        var handle: weft_comm_t?
        try check("weft_comm_world", weft_comm_world(&handle))
        return Communicator(handle: handle!)
    }

    /// One communicator per rank in this process, for tests without mpirun (as gloo's tests
    /// run ranks as threads): use each from its own thread, calling collectives as ranks of
    /// an MPI job would. `nodeOfRank[r]` is rank r's emulated node (nil: all on one node),
    /// which `nodes()`, `splitByNode()`, `hostNames()` ("host-N") and `isNodeLocal` report,
    /// so node-aware algorithms run as across hosts. No MPI is involved: messages are copied
    /// between threads, `mpi` is a rank-order reduction, and waits honour `Runtime.timeout`.
    /// Waiting loops yield from then on, since the ranks share the cores.
    public static func inProcess(ranks: Int, nodeOfRank: [Int]? = nil) throws -> [Communicator] {
        guard ranks >= 1, nodeOfRank.map({ $0.count == ranks && $0.allSatisfy { $0 >= 0 } }) ?? true else {
            throw WeftError(function: "inProcess",
                            reason: "need at least one rank and one node index >= 0 per rank (\(ranks) ranks, nodes \(nodeOfRank ?? []))")
        }
        var handles = [weft_comm_t?](repeating: nil, count: ranks)
        let nodes = nodeOfRank?.map { Int32($0) }
        let code = handles.withUnsafeMutableBufferPointer { out in
            guard let nodes else { return weft_comm_local_create(Int32(ranks), nil, out.baseAddress) }
            return nodes.withUnsafeBufferPointer { weft_comm_local_create(Int32(ranks), $0.baseAddress, out.baseAddress) }
        }
        try check("weft_comm_local_create", code)
        weft_set_yield(1)
        return handles.map { Communicator(handle: $0!) }
    }

    deinit {
        if case .some(.some(let state)) = nodePullState { state.control.free() }
        staging?.free()
        control?.free()
        scratch?.deallocate()
        _ = weft_comm_free(handle)
    }

    /// A copy with its own message space (MPI_Comm_dup).
    public func duplicate() throws -> Communicator {
        var out: weft_comm_t?
        try check("MPI_Comm_dup", weft_comm_dup(handle, &out))
        return Communicator(handle: out!)
    }

    /// Ranks with the same `color` form a new communicator ordered by `key`; a negative
    /// colour returns nil for the caller.
    public func split(color: Int, key: Int) throws -> Communicator? {
        var out: weft_comm_t?
        try check("MPI_Comm_split", weft_comm_split(handle, Int32(color), Int32(key), &out))
        return out.map { Communicator(handle: $0) }
    }

    /// The ranks of this communicator on the caller's node (MPI_COMM_TYPE_SHARED).
    public func splitByNode() throws -> Communicator {
        var out: weft_comm_t?
        try check("MPI_Comm_split_type", weft_comm_split_shared(handle, &out))
        return Communicator(handle: out!)
    }

    /// The ranks of this communicator on the caller's node, split once (collective on first use).
    func nodeCommunicator() throws -> Communicator {
        if let node { return node }
        node = try splitByNode()
        return node!
    }

    /// Which ranks share a node (asked of MPI once; collective on first use).
    public func nodes() throws -> [[Int]] {
        if let nodeLayout { return nodeLayout }
        var keys = [Int32](repeating: 0, count: size)
        try check("MPI_Comm_split_type", weft_comm_node_keys(handle, &keys))
        nodeLayout = TwoLevel.nodes(fromKeys: keys.map(Int.init))
        return nodeLayout!
    }

    /// Once, before the first program or `auto` decision across nodes (collective, like
    /// compiling: every rank makes the same call): every rank's host, for error lines, and
    /// the way messages travel between nodes.
    private func prepareAcrossNodes() throws {
        guard peerHosts == nil else { return }
        peerHosts = try hostNames()
        if fabric == nil { try openSockets() }
    }

    /// Messages between ranks on different nodes go over Weft's own TCP connections from now
    /// on where every rank wants them (`Runtime.socketsAcrossNodes`) and can listen; else
    /// Open MPI's point-to-point stays, on every rank. Collective.
    private func openSockets() throws {
        let keys = try nodes().reduce(into: [Int32](repeating: 0, count: size)) { keys, node in
            for r in node { keys[r] = Int32(node.min()!) }
        }
        var opened: Int32 = 0
        try check("weft_comm_open_sockets",
                  weft_comm_open_sockets(handle, keys, Runtime.socketsAcrossNodes ? 1 : 0, &opened))
        socketsOpened = opened != 0
    }

    /// Each rank's host name (MPI_Get_processor_name; collective).
    public func hostNames() throws -> [String] {
        let width = Int(WEFT_HOST_NAME_BYTES)
        var bytes = [CChar](repeating: 0, count: size * width)
        try check("MPI_Allgather", weft_comm_host_names(handle, &bytes))
        return (0..<size).map { r in
            String(decoding: bytes[(r * width)..<((r + 1) * width)].prefix { $0 != 0 }.map { UInt8(bitPattern: $0) },
                   as: UTF8.self)
        }
    }

    /// Fails when the descriptor puts two ranks on one node that MPI put on different hosts
    /// (`PlacementCheck`; the reverse, one host emulating many endpoints, is fine).
    /// Collective: every rank finds the same pair and fails alike.
    private func checkPlacement(_ context: NetworkContext) throws {
        guard size > 1,
              let mismatch = PlacementCheck.mismatch(placement: context.placement, network: context.network,
                                                     hosts: try nodes())
        else { return }
        let names = try hostNames()
        throw PlacementCheck.Failure(file: context.descriptor.file, mismatch,
                                     hostNames: (names[mismatch.ranks.0], names[mismatch.ranks.1]))
    }

    /// A buffer of `count` elements in registered shared memory (collective). On a
    /// communicator that spans nodes, each node's ranks share one window: steps inside a node
    /// (two-level's) then read node-mates' buffers with plain loads.
    public func registeredBuffer<T: WeftScalar>(of type: T.Type = T.self, count: Int) throws -> RegisteredBuffer<T> {
        try RegisteredBuffer(communicator: self, count: count)
    }

    /// The window behind a registered buffer: over this communicator where it is node-local,
    /// else over the caller's node (collective over this communicator either way).
    func registeredSegments(bytes: Int) throws -> SharedSegments {
        if isNodeLocal {
            let segments = try SharedSegments(communicator: self, bytes: bytes)
            register(segments, maps: [])
            return segments
        }
        let node = try nodeCommunicator()
        // Created per node, so a failure on one node is agreed over every rank: all throw
        // alike rather than some going on into collectives the others never join.
        let created = Result { try SharedSegments(communicator: node, bytes: bytes) }
        var ok: [Int32] = [(try? created.get()) == nil ? 0 : 1]
        try ok.withUnsafeMutableBufferPointer { try allreduce($0, op: .min, algorithm: .mpi) }
        guard ok[0] == 1, case .success(let segments) = created else {
            (try? created.get())?.free()
            if case .failure(let error) = created { throw error }
            throw WeftError(code: Int32(WEFT_ERR_NOT_SHARED), function: "registeredBuffer",
                            reason: "another node could not allocate its shared window")
        }
        // Where each node-mate's segment sits in its own process (what it publishes for a
        // pull), and its rank here.
        var owners = [Int64](repeating: 0, count: node.size)
        owners[node.rank] = Int64(Int(bitPattern: segments.local))
        try owners.withUnsafeMutableBufferPointer { try node.allgather($0, algorithm: .mpi) }
        var ranks = [Int32](repeating: 0, count: node.size)
        ranks[node.rank] = Int32(rank)
        try ranks.withUnsafeMutableBufferPointer { try node.allgather($0, algorithm: .mpi) }
        let maps = (0..<node.size).filter { $0 != node.rank }.map {
            weft_pull_map_t(rank: ranks[$0], remote: UInt64(bitPattern: owners[$0]), bytes: Int64(segments.lengths[$0]),
                            mapped: UnsafeRawPointer(segments.bases[$0]))
        }
        register(segments, maps: maps)
        return segments
    }

    private func register(_ segments: SharedSegments, maps: [weft_pull_map_t]) {
        registered.removeAll { $0.segments == nil }
        registered.append(WeakSegments(segments: segments, maps: maps))
    }

    /// Node-mates' registered segments that are still allocated, for pulls.
    private func livePullMaps() -> [weft_pull_map_t] {
        registered.flatMap { entry in entry.segments.map { $0.isFreed ? [] : entry.maps } ?? [] }
    }

    // MARK: - Collectives

    /// Reduces `buffer` across ranks; every rank ends with the result.
    public func allreduce<T: WeftScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp = .sum,
                                        algorithm: Algorithm = .auto) throws {
        try run(.allreduce, algorithm, buffer, nil, op: op, root: 0)
    }

    public func allreduce<T: WeftScalar>(_ array: inout [T], op: ReduceOp = .sum, algorithm: Algorithm = .auto) throws {
        try array.withUnsafeMutableBufferPointer { try allreduce($0, op: op, algorithm: algorithm) }
    }

    /// `buffer` holds `size` equal blocks; rank r ends with the reduction of block r (in place).
    public func reduceScatter<T: WeftScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp = .sum,
                                            algorithm: Algorithm = .auto) throws {
        try run(.reduceScatter, algorithm, buffer, nil, op: op, root: 0)
    }

    /// `buffer` holds `size` equal blocks, block r being rank r's; every rank ends with all.
    public func allgather<T: WeftScalar>(_ buffer: UnsafeMutableBufferPointer<T>, algorithm: Algorithm = .auto) throws {
        try run(.allgather, algorithm, buffer, nil, op: .sum, root: 0)
    }

    /// Copies `root`'s buffer to every rank.
    public func broadcast<T: WeftScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int = 0,
                                        algorithm: Algorithm = .auto) throws {
        try run(.broadcast, algorithm, buffer, nil, op: .sum, root: root)
    }

    public func broadcast<T: WeftScalar>(_ array: inout [T], root: Int = 0, algorithm: Algorithm = .auto) throws {
        try array.withUnsafeMutableBufferPointer { try broadcast($0, root: root, algorithm: algorithm) }
    }

    /// Reduces every rank's buffer into `root`'s (other ranks' buffers are scratch).
    public func reduce<T: WeftScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp = .sum, root: Int = 0,
                                     algorithm: Algorithm = .auto) throws {
        try run(.reduce, algorithm, buffer, nil, op: op, root: root)
    }

    /// Block j of `input` goes to rank j, landing in its `output` block r (both `size` blocks).
    public func alltoall<T: WeftScalar>(_ input: UnsafeMutableBufferPointer<T>, output: UnsafeMutableBufferPointer<T>,
                                       algorithm: Algorithm = .auto) throws {
        guard input.count == output.count else {
            throw WeftError(function: "alltoall", reason: "input has \(input.count) elements but output \(output.count)")
        }
        try run(.alltoall, algorithm, input, output, op: .sum, root: 0)
    }

    /// Returns once every rank has entered.
    public func barrier(algorithm: Algorithm = .auto) throws {
        let empty = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
        try run(.barrier, algorithm, empty, nil, op: .sum, root: 0)
    }

    /// Runs `collective` by name, for code that sweeps every collective (benchmarks, tests):
    /// the method of that name with these arguments. `output` is alltoall's (required there).
    public func perform<T: WeftScalar>(_ collective: Collective, _ data: UnsafeMutableBufferPointer<T>,
                                       output: UnsafeMutableBufferPointer<T>? = nil, op: ReduceOp = .sum, root: Int = 0,
                                       algorithm: Algorithm = .auto) throws {
        switch collective {
        case .allreduce: try allreduce(data, op: op, algorithm: algorithm)
        case .reduceScatter: try reduceScatter(data, op: op, algorithm: algorithm)
        case .allgather: try allgather(data, algorithm: algorithm)
        case .broadcast: try broadcast(data, root: root, algorithm: algorithm)
        case .reduce: try reduce(data, op: op, root: root, algorithm: algorithm)
        case .barrier: try barrier(algorithm: algorithm)
        case .alltoall:
            guard let output else { throw WeftError(function: "alltoall", reason: "needs an output buffer") }
            try alltoall(data, output: output, algorithm: algorithm)
        }
    }

    /// The algorithm `auto` picks for this request: `WEFT_ALGO`, else the tuning file,
    /// else the topology's plan, else two-level across nodes where it measured faster, else
    /// the measured table. Collective on its first call on a communicator spanning nodes (it
    /// asks MPI which ranks share a node, and sets up pulls): call it on every rank, as the
    /// collectives do.
    public func resolve(_ algorithm: Algorithm, _ collective: Collective, bytes: Int, registered: Bool) throws -> Algorithm {
        guard algorithm == .auto else { return algorithm }
        let key = AutoKey(collective: collective, bytes: bytes, registered: registered)
        if let known = autoChoices[key] { return known }
        let choice = AutoChoice(forced: forced, tuning: tuning, network: network, selector: selector)
        // Where ranks span nodes, which ones share a node matters too (asked of MPI once).
        let placement = isNodeLocal ? NodePlacement.other : TwoLevel.placement(try nodes())
        // Across nodes a registered buffer only behaves as one where pulls run (node-mates
        // read it directly); without them (no node with two ranks, cross-memory attach
        // refused, WEFT_CROSS_MEMORY=0, the emulated fabric) it is ordinary memory to two-level,
        // and only the round-robin rules still apply (`NodePlacement.ruling`).
        let pullsRun = !isNodeLocal && fabric == nil ? try nodePulls() != nil : false
        let acts = registered && (isNodeLocal || pullsRun)
        if !isNodeLocal { try prepareAcrossNodes() }
        let chosen = choice.choose(collective, bytes: bytes, ranks: size, nodeLocal: isNodeLocal, registered: registered,
                                   buffers: acts ? .registered : .ordinary,
                                   placement: placement.ruling(pulls: pullsRun), sockets: socketsOpened)
        autoChoices[key] = chosen
        return chosen
    }

    /// `auto`'s answers so far: a training loop asks the same question every step, and the
    /// full decision (tuning rules, plan, table) costs more than a small collective.
    private var autoChoices: [AutoKey: Algorithm] = [:]

    private struct AutoKey: Hashable {
        var collective: Collective
        var bytes: Int
        var registered: Bool
    }

    /// Reads the topology and tuning files named by the arguments, else by `WEFT_TOPOLOGY`
    /// and `WEFT_TUNING` (as `launch/weftrun --topology` exports).
    /// Collective: the ranks first agree that they were given the same files (by contents) and
    /// `WEFT_ALGO`, since ranks that choose differently would wait on each other forever.
    public func configure(topology: String? = nil, tuning tuningFile: String? = nil) throws {
        let environment = ProcessInfo.processInfo.environment
        let topologyPath = topology ?? environment["WEFT_TOPOLOGY"].flatMap { $0.isEmpty ? nil : $0 }
        let tuningPath = tuningFile ?? environment["WEFT_TUNING"].flatMap { $0.isEmpty ? nil : $0 }
        let forcing = environment["WEFT_ALGO"].flatMap { $0.isEmpty || $0 == "auto" ? nil : $0 }
        try agree(on: [topologyPath.map(Self.contents), tuningPath.map(Self.contents), forcing.map { Array($0.utf8) }])
        if let path = topologyPath {
            let context = try NetworkContext(path: path, ranks: size)
            try checkPlacement(context)
            network = context
        }
        if let path = tuningPath {
            let plan = try Plan.load(path)
            if network == nil, let rule = plan.rules.first(where: { $0.algorithm.needsTopology }) {
                throw TopologyError(file: path, key: "rule", "a \(rule.collective.rawValue) rule names '\(rule.algorithm.rawValue)', which needs a topology (--topology FILE or WEFT_TOPOLOGY)")
            }
            // A topology-aware rule must suit this network, or auto would fail mid-run.
            if let network, plan.applies(toRanks: size) {
                for (index, rule) in plan.rules.enumerated() where rule.algorithm.needsTopology {
                    do {
                        _ = try Schedules.make(rule.collective, algorithm: rule.algorithm, ranks: network.placement.count,
                                               network: network.network, placement: network.placement)
                    } catch let error as ScheduleError {
                        throw TopologyError(file: path, key: "rule[\(index)]", "'\(rule.algorithm.rawValue)' cannot run \(rule.collective.rawValue) on \(network.descriptor.file): \(error.description); remove the rule or use another topology")
                    }
                }
            }
            tuning = plan
        }
    }

    /// A file's bytes for `agree`; an unreadable file is its path (so a file one rank cannot
    /// read differs; where none can, the loader reports it after agreeing).
    private static func contents(_ path: String) -> [UInt8] {
        (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? Array("unreadable \(path)".utf8)
    }

    /// Fails alike on every rank unless all ranks hold the same `parts` (nil: not given), by
    /// the shim's fingerprint (as libweft-mpi.so's) of each part's presence, length and bytes.
    private func agree(on parts: [[UInt8]?]) throws {
        guard size > 1 else { return }
        var hash: UInt64 = WEFT_FINGERPRINT_START
        for part in parts {
            var frame = (present: UInt64(part == nil ? 0 : 1), length: UInt64(part?.count ?? 0))
            hash = withUnsafeBytes(of: &frame) { weft_fingerprint(hash, $0.baseAddress, $0.count) }
            hash = part?.withUnsafeBytes { weft_fingerprint(hash, $0.baseAddress, $0.count) } ?? hash
        }
        var lowest = [Int64(bitPattern: hash)], highest = lowest
        try lowest.withUnsafeMutableBufferPointer { try allreduce($0, op: .min, algorithm: .mpi) }
        try highest.withUnsafeMutableBufferPointer { try allreduce($0, op: .max, algorithm: .mpi) }
        guard lowest == highest else {
            throw WeftError(function: "configuration",
                            reason: "--topology, --tuning (WEFT_TOPOLOGY, WEFT_TUNING) or WEFT_ALGO differ between ranks (files by their contents); give every rank the same")
        }
    }

    // MARK: - Execution

    private func run<T: WeftScalar>(_ collective: Collective, _ requested: Algorithm, _ data: UnsafeMutableBufferPointer<T>,
                                    _ output: UnsafeMutableBufferPointer<T>?, op: ReduceOp, root: Int) throws {
        let type = T.weftType
        let count = data.count
        let bytes = count * type.size
        if collective.isRooted && (root < 0 || root >= size) {
            throw WeftError(function: collective.rawValue,
                            reason: "root \(root) is not a rank of this \(size)-rank communicator (use 0…\(size - 1))")
        }
        if collective.isBlockwise && count % size != 0 {
            throw WeftError(function: collective.rawValue,
                            reason: "buffer of \(count) elements is not \(size) equal blocks (one per rank)")
        }
        let isRegistered = isInRegisteredMemory(data, output)
        let algorithm = try resolve(requested, collective, bytes: bytes, registered: isRegistered)
        let start = weft_wtime()
        defer {
            collectiveBytes += bytes
            collectiveSeconds += weft_wtime() - start
        }
        if algorithm == .mpi {
            try runNative(collective, data, output, type: type, op: op, root: root)
            return
        }
        let segments = segments(for: collective, algorithm: algorithm, bytes: bytes)
        let program = try compiled(collective, algorithm, root: root, segments: segments)
        let blockCount = collective.isBlockwise ? count / size : count
        // Every rank counts every scheduled call, so node-mates agree on the call a pull is in
        // (a rank's own program may have no pulls in it).
        if case .some(.some(let state)) = nodePullState { state.calls += 1 }
        if let fabric {
            try runEmulated(program, fabric, UnsafeMutableRawPointer(data.baseAddress),
                            output.flatMap { UnsafeMutableRawPointer($0.baseAddress) }, bytes: bytes,
                            blockCount: blockCount, type: type, op: op)
        } else if program.usesSharedMemory {
            try runShared(program, collective, data, output, blockCount: blockCount, type: type, op: op)
        } else {
            try runMessages(program, UnsafeMutableRawPointer(data.baseAddress),
                            output.flatMap { UnsafeMutableRawPointer($0.baseAddress) }, blockCount: blockCount,
                            type: type, op: op, shared: nil)
        }
        if op == .avg && collective.reduces {
            finishAverage(collective, UnsafeMutableRawPointer(data.baseAddress), count: count, type: type, root: root)
        }
    }

    func segments(for collective: Collective, algorithm: Algorithm, bytes: Int) -> Int {
        Schedules.segments(for: collective, algorithm: algorithm, bytes: bytes, ranks: size)
    }

    private func compiled(_ collective: Collective, _ algorithm: Algorithm, root: Int, segments: Int) throws
        -> CompiledProgram
    {
        let key = CompiledProgram.Key(collective: collective, algorithm: algorithm, ranks: size,
                                      root: collective.isRooted ? root : 0, segments: segments)
        if let program = programs[key] { return program }
        let schedule: Schedule
        do {
            if algorithm.needsTopology && network == nil {
                throw WeftError(function: collective.rawValue,
                                reason: "algorithm '\(algorithm.rawValue)' needs a topology descriptor (--topology FILE or WEFT_TOPOLOGY)")
            }
            schedule = try Schedules.make(collective, algorithm: algorithm, ranks: size, root: key.root, segments: segments,
                                          network: network?.network, placement: network?.placement,
                                          nodes: algorithm.needsNodeLayout ? try nodes() : nil)
        } catch let error as ScheduleError {
            throw WeftError(function: collective.rawValue, reason: error.description)
        }
        if fabric != nil && schedule.usesSharedMemory {
            throw WeftError(function: collective.rawValue,
                            reason: "algorithm '\(algorithm.rawValue)' works through shared memory, which the emulated fabric cannot hold; pick a message-passing algorithm")
        }
        if !isNodeLocal { try prepareAcrossNodes() }
        let pulls = isNodeLocal || fabric != nil ? nil : try nodePulls()
        let program = CompiledProgram(schedule: schedule, rank: rank, key: key,
                                      pulls: pulls.map { NodePulls(nodeOf: $0.nodeOf) })
        programs[key] = program
        return program
    }

    /// Step by step, each step held until the emulated network would have finished it.
    private func runEmulated(_ program: CompiledProgram, _ fabric: EmulatedFabric, _ data: UnsafeMutableRawPointer?,
                             _ output: UnsafeMutableRawPointer?, bytes: Int, blockCount: Int, type: DataType,
                             op: ReduceOp) throws {
        let holds = fabric.holds(for: program.schedule, key: program.key, bytes: bytes, elementSize: type.size)
        try check("MPI_Barrier", weft_barrier(handle))
        var deadline = weft_wtime()
        for (step, range) in program.stepRanges.enumerated() {
            if !range.isEmpty {
                try runMessages(program, data, output, blockCount: blockCount, type: type, op: op, shared: nil,
                                range: range)
            }
            deadline += holds[step]
            EmulatedFabric.wait(until: deadline, now: { weft_wtime() })
        }
    }

    private func runMessages(_ program: CompiledProgram, _ data: UnsafeMutableRawPointer?,
                             _ output: UnsafeMutableRawPointer?, blockCount: Int, type: DataType, op: ReduceOp,
                             shared: (data: [UnsafeMutableRawPointer?], output: [UnsafeMutableRawPointer?],
                                      barrier: UnsafeMutableRawPointer)?, range: Range<Int>? = nil) throws {
        let layout = program.cLayout(blockCount: blockCount)
        let needed = program.operations.withUnsafeBufferPointer {
            Int(weft_program_scratch_bytes($0.baseAddress, Int64($0.count), layout, type.c))
        }
        if needed > scratchBytes {
            scratch?.deallocate()
            scratch = UnsafeMutableRawPointer.allocate(byteCount: needed, alignment: 64)
            scratchBytes = needed
        }
        let sharedData = shared?.data.map { UnsafeMutableRawPointer($0) } ?? []
        let sharedOutput = shared?.output.map { UnsafeMutableRawPointer($0) } ?? []
        var pulls: NodePullState?
        if program.hasPulls, case .some(.some(let state)) = nodePullState {
            pulls = state
            pulledTransfers += program.pullCount
        }
        let maps = pulls == nil ? [] : livePullMaps()
        let code = sharedData.withUnsafeBufferPointer { sd in
            sharedOutput.withUnsafeBufferPointer { so in maps.withUnsafeBufferPointer { pm in
                var buffers = weft_buffers_t(
                    data: data, output: output, scratch: scratch, scratch_bytes: Int64(scratchBytes),
                    shared_data: shared == nil ? nil : UnsafePointer(sd.baseAddress),
                    shared_output: shared == nil ? nil : UnsafePointer(so.baseAddress),
                    shared_barrier: shared?.barrier, remote_pids: nil, entry_synced: 0,
                    pull_control: pulls?.control.bases[0], pull_slots: UnsafePointer(pulls?.slots.baseAddress),
                    pull_pids: UnsafePointer(pulls?.pids.baseAddress), pull_call: pulls?.calls ?? 0,
                    pull_maps: pm.baseAddress, pull_map_count: Int64(pm.count), input: nil, input_first_chunk: 0, input_chunks: 0, result_first_chunk: 0, result_chunks: 0)
                return program.operations.withUnsafeBufferPointer { all in
                    let ops = range.map { UnsafeBufferPointer(rebasing: all[$0]) } ?? all
                    return weft_execute(handle, ops.baseAddress, Int64(ops.count), layout, type.c,
                                        (op == .avg ? ReduceOp.sum : op).c, &buffers)
                }
            } }
        }
        if code == WEFT_ERR_TIMEOUT || code == WEFT_ERR_PEER_CLOSED, case let peer = weft_timeout_peer(), peer >= 0 {
            var text = [CChar](repeating: 0, count: 256)
            weft_peer_failure_reason(code, peer, peerHosts.map { "host \($0[Int(peer)])" } ?? "", &text, Int32(text.count))
            throw WeftError(code: code, function: "weft_execute",
                            reason: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        try check("weft_execute", code)
    }

    private func runShared<T>(_ program: CompiledProgram, _ collective: Collective, _ data: UnsafeMutableBufferPointer<T>,
                              _ output: UnsafeMutableBufferPointer<T>?, blockCount: Int, type: DataType,
                              op: ReduceOp) throws {
        guard isNodeLocal else {
            throw WeftError(code: Int32(WEFT_ERR_NOT_SHARED), function: "direct \(collective.rawValue)")
        }
        let barrier = try controlBlock()
        let bytes = data.count * type.size
        if let dataSegments = segments(containing: UnsafeRawPointer(data.baseAddress), length: bytes),
           output == nil || segments(containing: UnsafeRawPointer(output!.baseAddress), length: bytes) != nil
        {
            // Zero-copy: the buffers are registered; peers' copies sit at the same offset.
            let dataPeers = dataSegments.segments.bases.map { UnsafeMutableRawPointer($0 + dataSegments.offset) }
            var outputPeers: [UnsafeMutableRawPointer?] = []
            if let output, let o = segments(containing: UnsafeRawPointer(output.baseAddress), length: bytes) {
                outputPeers = o.segments.bases.map { UnsafeMutableRawPointer($0 + o.offset) }
            }
            try runMessages(program, UnsafeMutableRawPointer(data.baseAddress),
                            output.flatMap { UnsafeMutableRawPointer($0.baseAddress) }, blockCount: blockCount,
                            type: type, op: op, shared: (dataPeers, outputPeers, barrier))
            return
        }
        // Ordinary buffers: single copy from and to peers' own buffers (cross-memory attach).
        let pids = try crossMemory()
        if !pids.isEmpty {
            let layout = program.cLayout(blockCount: blockCount)
            let code = program.operations.withUnsafeBufferPointer { ops in
                weft_execute_cross_memory(handle, ops.baseAddress, Int64(ops.count), layout, type.c,
                                          (op == .avg ? ReduceOp.sum : op).c, barrier, pids,
                                          UnsafeMutableRawPointer(data.baseAddress),
                                          output.flatMap { UnsafeMutableRawPointer($0.baseAddress) })
            }
            try check("weft_execute_cross_memory", code)
            return
        }
        // Where the kernel forbids it: stage through a shared segment (one copy in, one out).
        let stage = try stagingSegments(bytes: 2 * bytes)
        let dataPeers = stage.bases.map { Optional($0) }
        let outputPeers = stage.bases.map { Optional($0 + bytes) }
        if let base = data.baseAddress { stage.local.copyMemory(from: base, byteCount: bytes) }
        try runMessages(program, stage.local, stage.local + bytes, blockCount: blockCount, type: type, op: op,
                        shared: (dataPeers, outputPeers, barrier))
        if let base = data.baseAddress, collective != .alltoall {
            UnsafeMutableRawPointer(base).copyMemory(from: stage.local, byteCount: bytes)
        }
        if let output, let base = output.baseAddress {
            UnsafeMutableRawPointer(base).copyMemory(from: stage.local + bytes, byteCount: bytes)
        }
    }

    private func runNative<T>(_ collective: Collective, _ data: UnsafeMutableBufferPointer<T>,
                              _ output: UnsafeMutableBufferPointer<T>?, type: DataType, op: ReduceOp, root: Int) throws {
        let base = UnsafeMutableRawPointer(data.baseAddress)
        let count = Int64(data.count), block = Int64(data.count / max(size, 1))
        switch collective {
        case .allreduce:
            try check("MPI_Allreduce", weft_native_allreduce(handle, base, count, type.c, op.c))
        case .reduceScatter:
            try check("MPI_Reduce_scatter_block", weft_native_reduce_scatter(handle, base, block, type.c, op.c))
        case .allgather:
            try check("MPI_Allgather", weft_native_allgather(handle, base, block, type.c))
        case .broadcast:
            try check("MPI_Bcast", weft_native_broadcast(handle, base, count, type.c, Int32(root)))
        case .reduce:
            try check("MPI_Reduce", weft_native_reduce(handle, base, count, type.c, op.c, Int32(root)))
        case .barrier:
            try check("MPI_Barrier", weft_barrier(handle))
        case .alltoall:
            try check("MPI_Alltoall", weft_native_alltoall(handle, base, UnsafeMutableRawPointer(output?.baseAddress),
                                                           block, type.c))
        }
    }

    private func finishAverage(_ collective: Collective, _ data: UnsafeMutableRawPointer?, count: Int, type: DataType,
                               root: Int) {
        guard let data else { return }
        switch collective {
        case .allreduce: weft_divide(data, Int64(count), type.c, Int32(size))
        case .reduce where rank == root: weft_divide(data, Int64(count), type.c, Int32(size))
        case .reduceScatter:
            let block = count / size
            weft_divide(data + rank * block * type.size, Int64(block), type.c, Int32(size))
        default: break
        }
    }

    private func isInRegisteredMemory<T>(_ data: UnsafeMutableBufferPointer<T>, _ output: UnsafeMutableBufferPointer<T>?)
        -> Bool
    {
        let bytes = data.count * MemoryLayout<T>.stride
        guard segments(containing: UnsafeRawPointer(data.baseAddress), length: bytes) != nil else { return false }
        if let output { return segments(containing: UnsafeRawPointer(output.baseAddress), length: bytes) != nil }
        return true
    }

    private func segments(containing pointer: UnsafeRawPointer?, length: Int) -> (segments: SharedSegments, offset: Int)? {
        guard let pointer else { return nil }
        for entry in registered {
            if let s = entry.segments, let offset = s.offset(of: pointer, length: length) { return (s, offset) }
        }
        return nil
    }

    /// Rank 0's segment of a small shared window: the shared barrier, then one slot per rank
    /// for cross-memory addresses.
    private func controlBlock() throws -> UnsafeMutableRawPointer {
        if control == nil {
            control = try SharedSegments(communicator: self, bytes: Int(weft_cross_memory_control_bytes(Int32(size))))
        }
        return control!.bases[0]
    }

    /// Process ids of every rank if each can read its neighbour's memory with
    /// process_vm_readv (agreed by all ranks), else empty. `WEFT_CROSS_MEMORY=0` turns it off.
    private func crossMemory() throws -> [Int32] {
        if let crossMemoryPids { return crossMemoryPids }
        let control = try controlBlock()
        var pids = [Int32](repeating: 0, count: size)
        pids[rank] = getpid()
        try pids.withUnsafeMutableBufferPointer { try allgather($0, algorithm: .mpi) }
        let probe = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        defer { probe.deallocate() }
        probe.pointee = 0x77656674
        weft_cross_memory_slot(control, Int32(size), Int32(rank))[0] = UInt64(UInt(bitPattern: probe))
        try barrier(algorithm: .mpi)
        let peer = (rank + 1) % size
        let address = weft_cross_memory_slot(control, Int32(size), Int32(peer))[0]
        let disabled = CrossMemorySetting.disabled
        var ok: [Int32] = [!disabled && weft_cross_memory_probe(pids[peer], UnsafeRawPointer(bitPattern: UInt(address)), 8) != 0 ? 1 : 0]
        try ok.withUnsafeMutableBufferPointer { try allreduce($0, op: .min, algorithm: .mpi) }
        crossMemoryPids = ok[0] == 1 ? pids : []
        return crossMemoryPids!
    }

    /// The node pull state, set up on first use (collective: every rank compiles the same
    /// program in the same call); nil where pulls cannot run.
    private func nodePulls() throws -> NodePullState? {
        if let nodePullState { return nodePullState }
        let state = try NodePullState.make(self, nodes: try nodes())
        nodePullState = .some(state)
        return state
    }

    private func stagingSegments(bytes: Int) throws -> SharedSegments {
        if let staging, staging.bytes >= bytes { return staging }
        staging?.free()
        staging = nil
        // Grow geometrically so a run of growing messages reallocates rarely.
        staging = try SharedSegments(communicator: self, bytes: max(bytes, 2 * (staging?.bytes ?? 0), 1 << 20))
        return staging!
    }
}
