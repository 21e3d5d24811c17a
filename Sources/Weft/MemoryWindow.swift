import CWeft

/// Registered memory for one-sided access, the RDMA analogue: `put` is an RDMA write,
/// `get` an RDMA read, `flush` waits for completion. The window stays in a passive-target
/// epoch for its whole life. Creation and `free()` are collective.
public final class MemoryWindow {
    private var handle: weft_window_t?
    /// This rank's registered bytes.
    public let base: UnsafeMutableRawPointer
    public let bytes: Int

    /// Allocates and registers `bytes` on every rank of `communicator`.
    public init(communicator: Communicator, bytes: Int) throws {
        var base: UnsafeMutableRawPointer?
        var window: weft_window_t?
        try check("MPI_Win_allocate", weft_window_allocate(communicator.handle, Int64(max(bytes, 8)), &base, &window))
        handle = window
        self.base = base!
        self.bytes = bytes
    }

    /// Writes `source` into `target`'s window at byte `offset`; complete after `flush`.
    public func put(_ source: UnsafeRawBufferPointer, to target: Int, offset: Int) throws {
        try validate(target: target, offset: offset, length: source.count)
        guard let address = source.baseAddress else { return }
        try check("MPI_Put", weft_put(handle, address, Int64(source.count), Int32(target), Int64(offset)))
    }

    /// Reads from `target`'s window at byte `offset` into `destination`; valid after `flush`.
    public func get(_ destination: UnsafeMutableRawBufferPointer, from target: Int, offset: Int) throws {
        try validate(target: target, offset: offset, length: destination.count)
        guard let address = destination.baseAddress else { return }
        try check("MPI_Get", weft_get(handle, address, Int64(destination.count), Int32(target), Int64(offset)))
    }

    /// Completes every put and get to `target` (nil: to every rank).
    public func flush(_ target: Int? = nil) throws {
        if let target {
            try check("MPI_Win_flush", weft_flush(handle, Int32(target)))
        } else {
            try check("MPI_Win_flush_all", weft_flush_all(handle))
        }
    }

    /// Makes this rank's window memory consistent with remote accesses (MPI_Win_sync).
    public func synchronize() throws { try check("MPI_Win_sync", weft_window_sync(handle)) }

    public func free() {
        if let handle { _ = weft_window_free(handle) }
        handle = nil
    }

    deinit { free() }

    private func validate(target: Int, offset: Int, length: Int) throws {
        if offset < 0 || offset + length > bytes {
            throw WeftError(function: "MemoryWindow",
                            reason: "range \(offset)..<\(offset + length) outside the \(bytes)-byte window")
        }
        _ = target
    }
}
