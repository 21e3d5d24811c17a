import WeftTopology

/// The one decision `auto` takes, shared by `Communicator` and the interposition library
/// (libweft-mpi.so): `WEFT_ALGO`, else the tuning file, else the topology's plan, else
/// two-level across nodes where it measured faster (by collective, buffer kind and how ranks
/// sit on nodes), else the measured selection table.
/// It reads only values every rank of a communicator shares, so ranks never disagree on an
/// algorithm.
public struct AutoChoice {
    public var forced: Algorithm?
    public var tuning: Plan?
    public var network: NetworkContext?
    public var selector: AlgorithmSelector

    public init(forced: Algorithm? = AlgorithmSelector.environmentOverride, tuning: Plan? = nil,
                network: NetworkContext? = nil, selector: AlgorithmSelector = .measured) {
        self.forced = forced
        self.tuning = tuning
        self.network = network
        self.selector = selector
    }

    /// The algorithm for one request. `registered`: the buffers are in Weft's shared windows
    /// (or reached single-copy by cross-memory attach), so `direct` needs no staging;
    /// `buffers` picks a tuning file's rules for this kind of buffer.
    /// `placement`: how the ranks sit on nodes (`TwoLevel.placement`), where the caller may run
    /// the two-level rules measured for it (`.other` where not). `sockets`: the communicator
    /// carries messages between nodes over Weft's own TCP connections (`WEFT_ACROSS`).
    public func choose(_ collective: Collective, bytes: Int, ranks: Int, nodeLocal: Bool, registered: Bool,
                       buffers: Plan.BufferKind, placement: NodePlacement = .other, sockets: Bool = false) -> Algorithm {
        if let forced { return forced }
        for plan in [tuning, network?.plan].compactMap({ $0 }) where plan.applies(toRanks: ranks) {
            guard let chosen = plan.choose(collective, bytes: bytes, buffers: buffers) else { continue }
            if chosen.needsTopology && network == nil { continue }
            if chosen == .direct && !nodeLocal { continue }
            if !Schedules.collectives(servedBy: chosen).contains(collective) && chosen != .mpi { continue }
            return chosen
        }
        if collective == .barrier && !registered { return .mpi }
        if Self.twoLevelAcrossNodes(collective, bytes: bytes, nodeLocal: nodeLocal, buffers: buffers,
                                    placement: placement, sockets: sockets) {
            return .twoLevel
        }
        return selector.choose(collective, ranks: ranks, bytes: bytes, nodeLocal: nodeLocal, registered: registered)
    }

    /// Two-level across nodes, where it measured faster than Open MPI on 2 emulated hosts ×
    /// 2 ranks in interleaved rounds (docs/BENCHMARKS.md, "Registered buffers across hosts").
    /// Allreduce:
    /// - Registered buffers where pulls run (each node's ranks share a window, so steps inside
    ///   a node are plain loads): 1.11–1.30× at 1 MiB and 1.03–1.70× from 2 to 16 MiB with
    ///   ranks placed by slot, 1.07–2.14× from 128 KiB placed round-robin; slot placement
    ///   is 0.94–1.20× below 1 MiB.
    /// - Ordinary buffers, ranks placed round-robin: Open MPI's recursive halving then sends
    ///   half the vector across nodes in its first step, two-level a quarter: 1.09–1.67× from
    ///   1 to 16 MiB in place (`weft bench`, one job at 0.94 at 1 MiB) and 1.20–1.26× at 1 MiB
    ///   through libweft-mpi.so (separate send buffers); 0.96–1.22× at 512 KiB. Placed by slot
    ///   both cross alike and native stays.
    /// Allgather (whole-buffer bytes):
    /// - Slot placement: registered 1.16–1.47× at 1 MiB and 1.30–2.56× from 2 to 16 MiB;
    ///   ordinary 1.17–1.55× from 2 MiB in place and 1.13–1.36× through libweft-mpi.so
    ///   (0.90–1.21× in place at 1 MiB).
    /// - Round-robin: registered 1.08–2.16× from 4 MiB (0.94–1.21× at 2 MiB); ordinary at
    ///   most 0.96–1.37× and below 1 through the library: native stays.
    /// Uneven nodes (2+1 and 3+1 ranks on 2 hosts, either placement; "Uneven nodes across
    /// hosts"): allreduce on registered buffers 1.15–1.56× from 1 MiB (every job at 1 MiB
    /// ≥ 1.13, above it ≥ 1.01), 0.74–1.67× below. On ordinary buffers 0.90–1.06× from 512 KiB
    /// to 2 MiB on 3+1 and 1.09–1.43× from 4 MiB, not measured through libweft-mpi.so: native
    /// stays. Allgather 1.30–2.32× from 1 MiB registered; ordinary 1.14–2.17× from 1 MiB in
    /// place and, through libweft-mpi.so, 1.01–1.14× on 3+1 at 1 MiB, 1.14–2.04× from 2 MiB:
    /// from 2 MiB.
    /// Reduce-scatter and reduce (whole-buffer bytes; "Reduce-scatter, reduce and broadcast
    /// across hosts"): Open MPI 4.1's own are slow across hosts, and two-level is 2.4–6.4×
    /// (reduce-scatter) and 1.09–3.2× (reduce; 2.1–4.1× with the root on the other host) native
    /// from 256 KiB on 2+2 (both placements) and 2+1, both buffer kinds; 0.2–1.0× below 64 KiB. Broadcast: with ranks
    /// placed round-robin 1.13–1.86× from 1 MiB (roots 0 and 3); placed by slot about native
    /// (0.74–1.36×), so native stays.
    /// Reduce-scatter on every other layout across nodes too ("Reduce-scatter and reduce on
    /// other layouts"): 1.60–2.60× from 256 KiB with one rank per host (1+1), 2.00–3.06× on
    /// 1+1+1, 2.15–7.31× on 2+1+1 (both placements), and without pulls 1.8–20× on 2+2 and
    /// 2+1; below 128 KiB 0.79–1.05×. Reduce there: 2+1+1 and 1+1+1 gain (1.26–3.20× from
    /// 256 KiB) but 1+1 is native's equal (0.88–1.33×) and 2+1 without pulls mixed
    /// (0.86–1.63×), so native stays.
    /// Each threshold sits where every size above measured faster by the medians over jobs.
    /// Allreduce, allgather and broadcast with one rank per node and on one node: no rule
    /// (two-level is the ring across there, as Open MPI's: 0.85–1.02×).
    ///
    /// Everything above was measured over Open MPI's point-to-point between nodes. Over Weft's
    /// own sockets (`WEFT_ACROSS`, "Weft's sockets between nodes"), on 2+2 in place, median
    /// over jobs from the threshold up: allreduce 1.29–1.87× from 64 KiB on registered buffers
    /// with either placement (every job ≥ 1.27) and 1.08–1.70× on ordinary ones (1.15–1.61×
    /// through libweft-mpi.so); broadcast 1.07–2.04× from 64 KiB, both placements and buffer
    /// kinds; allgather placed by slot 1.20–2.02× from 128 KiB (0.99–1.04× at 64 KiB), placed
    /// round-robin 1.29–1.67× from 256 KiB registered and 1.08–1.23× from 2 MiB ordinary
    /// (0.92–0.95× at some sizes below). Uneven nodes (2+1 and 3+1, both placements): allreduce
    /// 1.17–2.03× registered and 1.01–1.52× ordinary from 128 KiB (3+1 at 64 KiB 0.83–1.11×),
    /// allgather 1.31–3.21× from 128 KiB (3+1 at 64 KiB 0.80–1.04×); broadcast there was not
    /// measured. Reduce-scatter and reduce keep their rules (two-level only got faster).
    static func twoLevelFrom(_ collective: Collective, buffers: Plan.BufferKind, placement: NodePlacement,
                             sockets: Bool = false) -> Int? {
        if sockets {
            switch (collective, buffers, placement) {
            case (.allreduce, _, .consecutive), (.allreduce, _, .roundRobin), (.broadcast, _, .consecutive),
                 (.broadcast, _, .roundRobin):
                return 64 << 10
            case (.allreduce, _, .uneven), (.allgather, _, .uneven), (.allgather, _, .consecutive): return 128 << 10
            case (.allgather, .registered, .roundRobin): return 256 << 10
            case (.allgather, .ordinary, .roundRobin): return 2 << 20
            default: break
            }
        }
        switch (collective, buffers, placement) {
        case (.allreduce, .registered, .roundRobin): return 256 << 10
        case (.allreduce, .registered, .consecutive): return 1 << 20
        case (.allreduce, .registered, .uneven): return 1 << 20
        case (.allreduce, .ordinary, .roundRobin): return 1 << 20
        case (.allgather, .registered, .consecutive): return 1 << 20
        case (.allgather, .registered, .roundRobin): return 4 << 20
        case (.allgather, .ordinary, .consecutive): return 2 << 20
        case (.allgather, .registered, .uneven): return 1 << 20
        case (.allgather, .ordinary, .uneven): return 2 << 20
        case (.reduceScatter, _, _): return 256 << 10
        case (.reduce, _, .roundRobin), (.reduce, _, .consecutive), (.reduce, _, .uneven): return 256 << 10
        case (.broadcast, _, .roundRobin): return 1 << 20
        default: return nil
        }
    }

    static func twoLevelAcrossNodes(_ collective: Collective, bytes: Int, nodeLocal: Bool, buffers: Plan.BufferKind,
                                    placement: NodePlacement, sockets: Bool = false) -> Bool {
        guard !nodeLocal, let from = twoLevelFrom(collective, buffers: buffers, placement: placement, sockets: sockets)
        else { return false }
        return bytes >= from
    }

    /// Every threshold `twoLevelFrom` can answer, for `ranges`.
    static let twoLevelThresholds = Collective.allCases.flatMap { collective in
        Plan.BufferKind.allCases.flatMap { buffers in
            NodePlacement.allCases.flatMap { placement in
                [false, true].compactMap { twoLevelFrom(collective, buffers: buffers, placement: placement, sockets: $0) }
            }
        }
    }

    /// The same decision as size ranges: every boundary any source names, and the choice
    /// between two neighbouring boundaries (it is constant there). Lower bounds inclusive.
    public func ranges(_ collective: Collective, ranks: Int, nodeLocal: Bool, registered: Bool,
                       buffers: Plan.BufferKind, placement: NodePlacement = .other, sockets: Bool = false)
        -> [(bytes: Range<Int>, algorithm: Algorithm)]
    {
        var bounds = Set([0] + Self.twoLevelThresholds)
        for plan in [tuning, network?.plan].compactMap({ $0 }) {
            for rule in plan.rules where rule.collective == collective { bounds.formUnion([rule.minBytes, rule.maxBytes]) }
        }
        for row in selector.rows where row.collective == collective {
            bounds.formUnion([row.bytes.lowerBound, row.bytes.upperBound])
        }
        let sorted = bounds.filter { $0 < Int.max }.sorted()
        var out: [(bytes: Range<Int>, algorithm: Algorithm)] = []
        for (i, low) in sorted.enumerated() {
            let high = i + 1 < sorted.count ? sorted[i + 1] : Int.max
            let algorithm = choose(collective, bytes: low, ranks: ranks, nodeLocal: nodeLocal, registered: registered,
                                   buffers: buffers, placement: placement, sockets: sockets)
            if let last = out.last, last.algorithm == algorithm {
                out[out.count - 1].bytes = last.bytes.lowerBound..<high
            } else {
                out.append((low..<high, algorithm))
            }
        }
        return out
    }
}
