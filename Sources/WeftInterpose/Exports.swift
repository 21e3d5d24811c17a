import CWeftInterpose
import Weft
import WeftTopology

// The C entry points of InterposePolicy, declared in weft_interpose.h. Indices are
// positions in `Collective.allCases` and `Algorithm.allCases`.

@_cdecl("weft_ip_configure")
func weftIPConfigure(_ worldSize: Int32, _ nodeKeys: UnsafePointer<Int32>?, _ hostNames: UnsafePointer<CChar>?,
                     _ message: UnsafeMutablePointer<CChar>?, _ length: Int32) -> Int32 {
    let size = Int(worldSize), width = Int(WEFT_HOST_NAME_BYTES)
    let keys = nodeKeys.map { keys in (0..<size).map { Int(keys[$0]) } }
    let names = hostNames.map { names in (0..<size).map { String(cString: names + $0 * width) } }
    do {
        try InterposePolicy.configure(worldSize: size, nodeKeys: keys, hostNames: names)
        return 0
    } catch {
        write("\(error)", to: message, length: length)
        return 1
    }
}

@_cdecl("weft_ip_algorithm_count")
func weftIPAlgorithmCount() -> Int32 { Int32(InterposePolicy.algorithms.count) }

@_cdecl("weft_ip_algorithm_name")
func weftIPAlgorithmName(_ algorithm: Int32, _ name: UnsafeMutablePointer<CChar>?, _ length: Int32) {
    let index = Int(algorithm)
    let text = InterposePolicy.algorithms.indices.contains(index) ? InterposePolicy.algorithms[index].rawValue : "?"
    write(text, to: name, length: length)
}

@_cdecl("weft_ip_algorithm_mpi")
func weftIPAlgorithmMPI() -> Int32 { Int32(InterposePolicy.algorithms.firstIndex(of: .mpi)!) }

@_cdecl("weft_ip_serves")
func weftIPServes(_ collective: Int32, _ algorithm: Int32, _ nodeLocal: Int32, _ crossMemory: Int32,
                  _ worldCongruent: Int32) -> Int32 {
    guard let c = collectiveAt(collective), let a = algorithmAt(algorithm) else { return 0 }
    return InterposePolicy.serves(c, a, nodeLocal: nodeLocal != 0, crossMemory: crossMemory != 0,
                                  worldCongruent: worldCongruent != 0) ? 1 : 0
}

@_cdecl("weft_ip_rules")
func weftIPRules(_ collective: Int32, _ ranks: Int32, _ nodeLocal: Int32, _ crossMemory: Int32,
                 _ worldCongruent: Int32, _ sockets: Int32, _ nodeKeys: UnsafePointer<Int32>?,
                 _ rules: UnsafeMutablePointer<weft_ip_rule_t>?, _ capacity: Int32) -> Int32 {
    guard let c = collectiveAt(collective), let rules else { return 0 }
    let nodes = nodeLocal == 0 ? nodeKeys.map {
        TwoLevel.nodes(fromKeys: UnsafeBufferPointer(start: $0, count: Int(ranks)).map(Int.init))
    } : nil
    let ranges = InterposePolicy.rules(c, ranks: Int(ranks), nodeLocal: nodeLocal != 0, crossMemory: crossMemory != 0,
                                       worldCongruent: worldCongruent != 0,
                                       placement: nodes.map(TwoLevel.placement) ?? .other, sockets: sockets != 0)
    let mpi = InterposePolicy.algorithms.firstIndex(of: .mpi)!
    var n = 0
    for range in ranges where n < Int(capacity) {
        // Without every rank's node key (the layout query failed) node-aware programs cannot be
        // built, whatever layout the rules assumed.
        let runnable = range.algorithm.needsNodeLayout && nodeKeys == nil ? .mpi : range.algorithm
        let index = InterposePolicy.algorithms.firstIndex(of: runnable) ?? mpi
        rules[n] = weft_ip_rule_t(min_bytes: Int64(range.bytes.lowerBound), max_bytes: Int64(range.bytes.upperBound),
                                  algorithm: Int32(index))
        n += 1
    }
    // Ranges beyond the capacity fall to native MPI (a tuning file with that many rules is unusual).
    if ranges.count > n && n > 0 {
        rules[n - 1].max_bytes = Int64.max
    }
    return Int32(n)
}

@_cdecl("weft_ip_program")
func weftIPProgram(_ collective: Int32, _ algorithm: Int32, _ ranks: Int32, _ rank: Int32, _ root: Int32,
                   _ bytes: Int64, _ worldCongruent: Int32, _ nodeKeys: UnsafePointer<Int32>?, _ pulls: Int32,
                   _ out: UnsafeMutablePointer<weft_ip_program_t>?,
                   _ message: UnsafeMutablePointer<CChar>?, _ length: Int32) -> Int32 {
    guard let c = collectiveAt(collective), let a = algorithmAt(algorithm), let out else { return 1 }
    do {
        let keys = nodeKeys.map { Array(UnsafeBufferPointer(start: $0, count: Int(ranks))).map(Int.init) }
        let compiled = try InterposePolicy.program(c, a, ranks: Int(ranks), rank: Int(rank), root: Int(root),
                                                   bytes: Int(bytes), worldCongruent: worldCongruent != 0,
                                                   nodeKeys: keys, pulls: pulls != 0)
        out.pointee = weft_ip_program_t(
            ops: UnsafePointer(compiled.operations.baseAddress), count: Int64(compiled.program.operations.count),
            blocks: Int64(compiled.program.layout.blocks), chunks_per_block: Int64(compiled.program.layout.chunksPerBlock),
            shared: compiled.program.usesSharedMemory ? 1 : 0, pulls: Int32(compiled.program.pullCount))
        return 0
    } catch {
        write("\(error)", to: message, length: length)
        return 1
    }
}

private func collectiveAt(_ index: Int32) -> Collective? {
    InterposePolicy.collectives.indices.contains(Int(index)) ? InterposePolicy.collectives[Int(index)] : nil
}

private func algorithmAt(_ index: Int32) -> Algorithm? {
    InterposePolicy.algorithms.indices.contains(Int(index)) ? InterposePolicy.algorithms[Int(index)] : nil
}
