/// A buffer in registered (shared-window) memory, allocated symmetrically on every rank
/// of a node-local communicator — like NCCL's registered user buffers. Collectives on it
/// run zero-copy with the `direct` algorithm; any other algorithm works on it too.
/// Allocation and `free()` are collective: every rank must allocate the same count.
public final class RegisteredBuffer<Element: WeftScalar> {
    let segments: SharedSegments
    public let count: Int

    init(communicator: Communicator, count: Int) throws {
        segments = try SharedSegments(communicator: communicator, bytes: count * MemoryLayout<Element>.stride)
        self.count = count
        communicator.register(segments)
    }

    /// The local rank's elements.
    public var pointer: UnsafeMutableBufferPointer<Element> {
        UnsafeMutableBufferPointer(start: segments.local.assumingMemoryBound(to: Element.self), count: count)
    }

    /// Releases the window (collective).
    public func free() { segments.free() }
}
