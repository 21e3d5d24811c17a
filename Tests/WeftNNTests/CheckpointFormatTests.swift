import Foundation
import XCTest

@testable import WeftNN

/// Checkpoints in every format version the reader accepts, built byte by byte as their
/// writers laid them out (17c61b3 wrote version 1, 5ac50c8 version 2, e80b1ae version 3):
/// "WEFTCKPT", a UInt32 version, then little-endian fields, then a CRC-32 of all before it.
final class CheckpointFormatTests: XCTestCase {
    /// A checkpoint's bytes, appended field by field in the file's order.
    struct Image {
        var bytes = Array("WEFTCKPT".utf8)

        init(version: UInt32) { put(version) }

        mutating func put<T: FixedWidthInteger>(_ value: T) {
            for k in 0..<MemoryLayout<T>.size { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * k))) }
        }

        /// A count (Int64), then each value's bit pattern (UInt32).
        mutating func put(_ values: [Float]) {
            put(Int64(values.count))
            for v in values { put(v.bitPattern) }
        }

        /// The signature, the position, then parameters, state, optimizer and the generator
        /// states: every version's fields up to version 1's end.
        mutating func putVersion1Fields(of c: Checkpoint) {
            put(c.signature)
            put(Int64(c.epoch))
            put(Int64(c.batchInEpoch))
            put(Int64(c.step))
            put(c.parameters)
            put(c.state)
            put(c.optimizer)
            put(Int64(c.randomStates.count))
            for v in c.randomStates { put(v) }
        }

        /// The bytes followed by their CRC-32 (little-endian), as a file ends.
        func sealed() -> [UInt8] {
            var out = Image(bytes: bytes)
            out.put(CheckpointFormatTests.crc32(bytes))
            return out.bytes
        }

        private init(bytes: [UInt8]) { self.bytes = bytes }
    }

    /// CRC-32 (the zlib and gzip one: reflected polynomial 0xEDB88320), bit by bit, as an
    /// oracle independent of the zlib the reader calls.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// What each version holds (version 3's fields all set, so a version that drops one shows).
    let full = Checkpoint(signature: 0x0123_4567_89AB_CDEF, epoch: 2, batchInEpoch: 5, step: 77,
                          parameters: [1, -2.5, .pi, -0.0, .leastNonzeroMagnitude], state: [0.25, 4],
                          optimizer: [9, -8, 7, 0.5], randomStates: [2, 0xDEAD_BEEF_0000_0001, .max],
                          methodState: [3, -1.5], batchSize: 64, samples: 2048)

    func version1Image() -> [UInt8] {
        var image = Image(version: 1)
        image.putVersion1Fields(of: full)
        return image.sealed()
    }

    func version2Image() -> [UInt8] {
        var image = Image(version: 2)
        image.putVersion1Fields(of: full)
        image.put(full.methodState)
        return image.sealed()
    }

    var path: String { NSTemporaryDirectory() + "weft-ckpt-format-\(getpid())/checkpoint.weft" }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }

    /// Writes `bytes` as a file and loads it as `weft train --resume` does.
    func load(_ bytes: [UInt8]) throws -> Checkpoint {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return try Checkpoint.read(from: path)
    }

    var crcMismatch: String { "checkpoint \(path) is truncated or damaged (CRC mismatch); it was not loaded" }
    var truncated: String { "checkpoint \(path) is truncated; it was not loaded" }
    var notACheckpoint: String { "checkpoint \(path) is not a Weft checkpoint" }

    func error(_ bytes: [UInt8]) -> String {
        do {
            _ = try load(bytes)
            return "no error"
        } catch { return "\(error)" }
    }

    func testTheTestsCRCIsTheStandardCRC32() {
        XCTAssertEqual(Self.crc32(Array("123456789".utf8)), 0xCBF4_3926)  // the CRC-32 check value
        XCTAssertEqual(Self.crc32([]), 0)
    }

    /// The current writer lays the file out as documented: version 1's fields, the method
    /// state (version 2), the batch size and training samples (version 3).
    func testVersion3IsTheLayoutTheWriterWrites() {
        var image = Image(version: 3)
        image.putVersion1Fields(of: full)
        image.put(full.methodState)
        image.put(Int64(full.batchSize))
        image.put(Int64(full.samples))
        XCTAssertEqual(image.sealed(), full.encoded())
        XCTAssertEqual(image.sealed().count, 8 + 4 + 8 + 3 * 8 + (8 + 5 * 4) + (8 + 2 * 4) + (8 + 4 * 4) + (8 + 3 * 8)
                           + (8 + 2 * 4) + 2 * 8 + 4)
    }

    /// Version 1 (the first writer): no method state, batch size or sample count; those
    /// read as empty and 0 (unknown), everything else as written, bit for bit.
    func testVersion1Loads() throws {
        let loaded = try load(version1Image())
        XCTAssertEqual(loaded.signature, full.signature)
        XCTAssertEqual(loaded.epoch, 2)
        XCTAssertEqual(loaded.batchInEpoch, 5)
        XCTAssertEqual(loaded.step, 77)
        XCTAssertEqual(loaded.parameters.map(\.bitPattern), full.parameters.map(\.bitPattern))  // -0 and subnormals too
        XCTAssertEqual(loaded.state, [0.25, 4])
        XCTAssertEqual(loaded.optimizer, [9, -8, 7, 0.5])
        XCTAssertEqual(loaded.randomStates, [2, 0xDEAD_BEEF_0000_0001, .max])
        XCTAssertEqual(loaded.methodState, [])
        XCTAssertEqual(loaded.batchSize, 0)
        XCTAssertEqual(loaded.samples, 0)
    }

    /// Version 2 added the method state (co-distillation's teachers); batch size and sample
    /// count still read as 0.
    func testVersion2Loads() throws {
        let loaded = try load(version2Image())
        var expected = full
        expected.batchSize = 0
        expected.samples = 0
        XCTAssertEqual(loaded, expected)
        XCTAssertEqual(loaded.methodState, [3, -1.5])
    }

    /// Empty arrays (a model without batch-norm state, a method without state) in both.
    func testOldVersionsWithEmptyArraysLoad() throws {
        let bare = Checkpoint(signature: 1, epoch: 0, batchInEpoch: 0, step: 0, parameters: [], state: [],
                              optimizer: [], randomStates: [])
        var one = Image(version: 1)
        one.putVersion1Fields(of: bare)
        XCTAssertEqual(try load(one.sealed()), bare)
        var two = Image(version: 2)
        two.putVersion1Fields(of: bare)
        two.put([Float]())
        XCTAssertEqual(try load(two.sealed()), bare)
    }

    /// A file cut short anywhere fails its CRC; one too short to hold the header is not a
    /// checkpoint at all; an empty file too.
    func testTruncatedFilesAreRefused() {
        let whole = version2Image()
        for kept in [whole.count - 1, whole.count - 4, whole.count / 2, 17] {
            XCTAssertEqual(error(Array(whole.prefix(kept))), crcMismatch, "\(kept) bytes")
        }
        for kept in [15, 8, 0] {
            XCTAssertEqual(error(Array(whole.prefix(kept))), notACheckpoint, "\(kept) bytes")
        }
    }

    /// A body shorter than its version's layout, with a CRC that matches it (a version 1
    /// body labelled version 2 or 3; a count past the end), is truncated, not read past.
    func testABodyShorterThanItsVersionIsTruncated() {
        for version: UInt32 in [2, 3] {
            var image = Image(version: version)
            image.putVersion1Fields(of: full)
            XCTAssertEqual(error(image.sealed()), truncated, "version \(version)")
        }
        var image = Image(version: 1)
        image.putVersion1Fields(of: full)
        image.bytes.removeLast(8 * full.randomStates.count)
        XCTAssertEqual(error(image.sealed()), truncated)
        var counted = Image(version: 1)
        counted.put(full.signature)
        for _ in 0..<3 { counted.put(Int64(1)) }
        counted.put(Int64(1_000))  // parameters: 1,000 floats announced, 2 present
        counted.put(UInt32(0))
        counted.put(UInt32(0))
        XCTAssertEqual(error(counted.sealed()), truncated)
    }

    func testWrongMagicOrVersionIsRefused() {
        var magic = version1Image()
        magic[7] = UInt8(ascii: "X")
        XCTAssertEqual(error(magic), notACheckpoint)
        XCTAssertEqual(error(Array("not a checkpoint at all".utf8)), notACheckpoint)
        for version: UInt32 in [0, 4, .max] {
            var image = Image(version: version)
            image.putVersion1Fields(of: full)
            image.put(full.methodState)
            image.put(Int64(full.batchSize))
            image.put(Int64(full.samples))
            XCTAssertEqual(error(image.sealed()), "checkpoint \(path) has an unknown format version", "\(version)")
        }
        // A changed version byte with the old CRC is damage: the CRC is checked first.
        var relabelled = version1Image()
        relabelled[8] = 2
        XCTAssertEqual(error(relabelled), crcMismatch)
    }

    func testAMissingFileCannotBeRead() {
        XCTAssertThrowsError(try Checkpoint.read(from: path)) { error in
            XCTAssertEqual("\(error)", "checkpoint \(path) cannot be read")
        }
    }
}
