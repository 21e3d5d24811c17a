/// A buffer in registered (shared-window) memory, allocated symmetrically on every rank —
/// like NCCL's registered user buffers. On a node-local communicator collectives on it run
/// zero-copy with the `direct` algorithm; across nodes each node's ranks share a window, and
/// steps inside a node read node-mates' buffers directly. Any algorithm works on it.
/// Allocation and `free()` are collective: every rank must allocate the same count.
public final class RegisteredBuffer<Element: WeftScalar> {
    let segments: SharedSegments
    public let count: Int

    init(communicator: Communicator, count: Int) throws {
        segments = try communicator.registeredSegments(bytes: count * MemoryLayout<Element>.stride)
        self.count = count
    }

    /// The local rank's elements.
    public var pointer: UnsafeMutableBufferPointer<Element> {
        UnsafeMutableBufferPointer(start: segments.local.assumingMemoryBound(to: Element.self), count: count)
    }

    /// Releases the window (collective).
    public func free() { segments.free() }
}
