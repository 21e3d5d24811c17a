import CWeft

/// A shared-memory window over the ranks of one node: each rank owns a segment of the
/// same size, and every rank can load and store every segment directly. Allocation and
/// `free()` are collective.
final class SharedSegments {
    private var window: weft_window_t?
    /// Base address of each rank's segment, in this process.
    let bases: [UnsafeMutableRawPointer]
    /// Each rank's segment size as MPI reports it (ranks may have asked for different sizes).
    let lengths: [Int]
    let bytes: Int
    let rank: Int

    init(communicator: Communicator, bytes: Int) throws {
        var base: UnsafeMutableRawPointer?
        var window: weft_window_t?
        // Zero-size segments are legal but give no address; keep one cache line.
        let size = max(bytes, 64)
        try check("MPI_Win_allocate_shared", weft_window_allocate_shared(communicator.handle, Int64(size), &base, &window))
        self.window = window
        self.bytes = size
        rank = communicator.rank
        var bases: [UnsafeMutableRawPointer] = []
        var lengths: [Int] = []
        for r in 0..<communicator.size {
            var address: UnsafeMutableRawPointer?
            var length: Int64 = 0
            try check("MPI_Win_shared_query", weft_window_shared_query(window, Int32(r), &address, &length))
            guard let address else { throw WeftError(function: "MPI_Win_shared_query", reason: "no segment for rank \(r)") }
            bases.append(address)
            lengths.append(Int(length))
        }
        self.bases = bases
        self.lengths = lengths
        bases[rank].initializeMemory(as: UInt8.self, repeating: 0, count: size)
        try check("MPI_Win_sync", weft_window_sync(window))
        try communicator.barrier(algorithm: .mpi)
    }

    var local: UnsafeMutableRawPointer { bases[rank] }

    /// Whether `pointer ..< pointer+length` lies in this rank's segment; returns the offset.
    func offset(of pointer: UnsafeRawPointer, length: Int) -> Int? {
        guard !isFreed else { return nil }
        let start = UnsafeRawPointer(local)
        guard pointer >= start, pointer + length <= start + bytes else { return nil }
        return pointer - start
    }

    var isFreed: Bool { window == nil }

    func free() {
        if let window { _ = weft_window_free(window) }
        window = nil
    }

    deinit { free() }
}
