import CZlib
import Foundation

/// Everything needed to continue training exactly where it stopped: weights, batch-norm
/// statistics, optimizer state, generator states and the position in the epoch.
///
/// File layout: "WEFTCKPT", version, then little-endian fields and arrays, then a CRC-32
/// of all preceding bytes. Written to a temporary file, flushed and renamed, so a crash at
/// any moment leaves either the previous checkpoint or the new one, never half of one.
public struct Checkpoint: Equatable {
    public var signature: UInt64
    public var epoch: Int
    public var batchInEpoch: Int
    public var step: Int
    public var parameters: [Float]
    public var state: [Float]
    public var optimizer: [Float]
    public var randomStates: [UInt64]
    /// What the training method carries between steps besides the model (co-distillation's
    /// stale teachers); empty for most methods. In the same file, so a crash never leaves
    /// it and the model from different steps.
    public var methodState: [Float]
    /// The data order the position counts in: samples per rank per step, and training
    /// samples (0: unknown, files before version 3). In the file itself, so a resume with
    /// another --batch-size or --train-limit is refused even when settings.json is gone.
    public var batchSize: Int
    public var samples: Int

    public init(signature: UInt64, epoch: Int, batchInEpoch: Int, step: Int, parameters: [Float], state: [Float],
                optimizer: [Float], randomStates: [UInt64], methodState: [Float] = [], batchSize: Int = 0,
                samples: Int = 0) {
        self.signature = signature
        self.epoch = epoch
        self.batchInEpoch = batchInEpoch
        self.step = step
        self.parameters = parameters
        self.state = state
        self.optimizer = optimizer
        self.randomStates = randomStates
        self.methodState = methodState
        self.batchSize = batchSize
        self.samples = samples
    }

    static let magic = Array("WEFTCKPT".utf8)
    /// Version 2 added `methodState`, version 3 `batchSize` and `samples`; older files
    /// still read (with none).
    static let version: UInt32 = 3

    public func encoded() -> [UInt8] {
        var out = Checkpoint.magic
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        put(Checkpoint.version)
        put(signature)
        put(Int64(epoch))
        put(Int64(batchInEpoch))
        put(Int64(step))
        for array in [parameters, state, optimizer] {
            put(Int64(array.count))
            for v in array { put(v.bitPattern) }
        }
        put(Int64(randomStates.count))
        for v in randomStates { put(v) }
        put(Int64(methodState.count))
        for v in methodState { put(v.bitPattern) }
        put(Int64(batchSize))
        put(Int64(samples))
        let crc = out.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        put(crc)
        return out
    }

    public static func decode(_ bytes: [UInt8], path: String) throws -> Checkpoint {
        func fail(_ why: String) -> CheckpointError { CheckpointError(message: "checkpoint \(path) \(why)") }
        guard bytes.count >= magic.count + 8, Array(bytes[0..<magic.count]) == magic else {
            throw fail("is not a Weft checkpoint")
        }
        let body = bytes.count - 4
        let stored = bytes[body...].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        let crc = bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32(body))) }
        guard stored == crc else { throw fail("is truncated or damaged (CRC mismatch); it was not loaded") }
        var at = magic.count
        func take<T: FixedWidthInteger>(_: T.Type) throws -> T {
            guard at + MemoryLayout<T>.size <= body else { throw fail("is truncated; it was not loaded") }
            var v: T = 0
            for k in 0..<MemoryLayout<T>.size { v |= T(bytes[at + k]) << (8 * k) }
            at += MemoryLayout<T>.size
            return v
        }
        func floats() throws -> [Float] {
            let n = Int(try take(Int64.self))
            // Compared by division: a damaged count (2^61) must not overflow the check itself.
            guard n >= 0, n <= (body - at) / 4 else { throw fail("is truncated; it was not loaded") }
            return try (0..<n).map { _ in Float(bitPattern: try take(UInt32.self)) }
        }
        let fileVersion = try take(UInt32.self)
        guard (1...version).contains(fileVersion) else { throw fail("has an unknown format version") }
        let signature = try take(UInt64.self)
        let epoch = Int(try take(Int64.self)), batch = Int(try take(Int64.self)), step = Int(try take(Int64.self))
        // Bounded far above any real run (2^40 steps) so arithmetic on them cannot overflow.
        let limit = 1 << 40
        guard (0...limit).contains(epoch), (0...limit).contains(batch), (0...limit).contains(step) else {
            throw fail("is damaged (epoch \(epoch), batch \(batch), step \(step)); it was not loaded")
        }
        let parameters = try floats(), state = try floats(), optimizer = try floats()
        let n = Int(try take(Int64.self))
        guard n >= 0 && n < 1 << 20 else { throw fail("is damaged") }
        let randomStates = try (0..<n).map { _ in try take(UInt64.self) }
        let methodState = fileVersion >= 2 ? try floats() : []
        let batchSize = fileVersion >= 3 ? Int(try take(Int64.self)) : 0
        let samples = fileVersion >= 3 ? Int(try take(Int64.self)) : 0
        guard (0...limit).contains(batchSize), (0...limit).contains(samples) else {
            throw fail("is damaged (batch size \(batchSize), samples \(samples)); it was not loaded")
        }
        return Checkpoint(signature: signature, epoch: epoch, batchInEpoch: batch, step: step, parameters: parameters,
                          state: state, optimizer: optimizer, randomStates: randomStates, methodState: methodState,
                          batchSize: batchSize, samples: samples)
    }

    /// Writes atomically (`writeAtomically`): temporary file, fsync, rename, fsync of the
    /// folder, through a symbolic link at `requested` to the file it points to.
    public func write(to requested: String) throws {
        try writeAtomically(encoded(), to: requested, as: "checkpoint")
    }

    public static func read(from path: String) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(message: "checkpoint \(path) cannot be read")
        }
        return try decode([UInt8](data), path: path)
    }
}

public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
}
