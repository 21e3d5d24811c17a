import Foundation
import XCTest

@testable import WeftNN

/// `writeAtomically`, the one writer of checkpoints, settings, plans, tuning files and NAS
/// outputs: whole files or none, through symbolic links, with one-line errors.
final class AtomicFileTests: XCTestCase {
    let folder = NSTemporaryDirectory() + "weft-atomic-\(getpid())"

    override func setUpWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func contents(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    func leftovers() throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: folder).filter { $0.contains(".tmp.") }
    }

    func testWritesReplacesAndCreatesFolders() throws {
        let path = folder + "/a/b/out.json"
        try writeAtomically(Data("first".utf8), to: path)
        XCTAssertEqual(contents(path), "first")
        try writeAtomically(Array("second, longer".utf8), to: path)
        XCTAssertEqual(contents(path), "second, longer")
        try writeAtomically(Data(), to: path)
        XCTAssertEqual(contents(path), "")
        XCTAssertEqual(try leftovers(), [])
    }

    /// Large enough to take several write calls' worth of page cache; read back whole.
    func testALargeFileIsWrittenWhole() throws {
        let path = folder + "/big.weft"
        var bytes = Data(repeating: 7, count: 24 << 20)
        for i in stride(from: 0, to: bytes.count, by: 4093) { bytes[i] = UInt8(truncatingIfNeeded: i >> 12) }
        try writeAtomically(bytes, to: path)
        XCTAssertTrue(FileManager.default.contents(atPath: path) == bytes)
    }

    /// A path without a folder is written in the current one.
    func testAPathWithoutAFolderIsWrittenInTheCurrentFolder() throws {
        let before = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(folder))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(before) }
        try writeAtomically(Data("here".utf8), to: "plan.toml")
        XCTAssertEqual(contents(folder + "/plan.toml"), "here")
    }

    /// Through a chain of links (relative and absolute), the file at the end is replaced and
    /// the links stay links, as `>` and editors do.
    func testWritesThroughSymbolicLinksToTheFileTheyPointTo() throws {
        try FileManager.default.createDirectory(atPath: folder + "/real", withIntermediateDirectories: true)
        try Data("old".utf8).write(to: URL(fileURLWithPath: folder + "/real/target.toml"))
        let files = FileManager.default
        try files.createSymbolicLink(atPath: folder + "/middle.toml", withDestinationPath: "real/target.toml")
        try files.createSymbolicLink(atPath: folder + "/link.toml", withDestinationPath: folder + "/middle.toml")
        try writeAtomically(Data("new".utf8), to: folder + "/link.toml")
        XCTAssertEqual(contents(folder + "/real/target.toml"), "new")
        for link in ["middle.toml", "link.toml"] {
            XCTAssertNotNil(try? FileManager.default.destinationOfSymbolicLink(atPath: folder + "/" + link), link)
        }
        XCTAssertEqual(try leftovers(), [])
        // A dangling link: the file it names is created (its folder too).
        try files.createSymbolicLink(atPath: folder + "/dangling.json", withDestinationPath: "made/later.json")
        try writeAtomically(Data("{}".utf8), to: folder + "/dangling.json")
        XCTAssertEqual(contents(folder + "/made/later.json"), "{}")
    }

    /// A failure after the temporary file exists removes it; the previous file is untouched.
    func testAFailedWriteLeavesThePreviousFileAndNoTemporaryFile() throws {
        let taken = folder + "/taken"
        try FileManager.default.createDirectory(atPath: taken, withIntermediateDirectories: true)
        XCTAssertThrowsError(try writeAtomically(Data("x".utf8), to: taken)) { error in
            XCTAssertEqual("\(error)", "cannot write \(taken): Is a directory")
        }
        XCTAssertEqual(try leftovers(), [])
        // The temporary file's own path blocked: the old checkpoint stays as it was.
        let path = folder + "/checkpoint.weft"
        try writeAtomically(Data("previous".utf8), to: path)
        try FileManager.default.createDirectory(atPath: "\(path).tmp.\(getpid())", withIntermediateDirectories: true)
        XCTAssertThrowsError(try writeAtomically(Data("next".utf8), to: path, as: "checkpoint")) { error in
            XCTAssertEqual("\(error)", "cannot write checkpoint \(path): Is a directory")
        }
        XCTAssertEqual(contents(path), "previous")
    }

    /// A folder that cannot be made names that folder and the system's reason, in one line.
    func testAFolderThatCannotBeMadeSaysWhy() throws {
        let file = folder + "/file"
        try writeAtomically(Data(), to: file)
        XCTAssertThrowsError(try writeAtomically(Data("x".utf8), to: file + "/sub/out.json")) { error in
            XCTAssertEqual("\(error)", "cannot create folder \(file)/sub: Not a directory")
        }
        XCTAssertThrowsError(try writeAtomically(Data(), to: file + "/sub/model.ckpt", as: "checkpoint")) { error in
            XCTAssertEqual("\(error)", "cannot create checkpoint folder \(file)/sub: Not a directory")
        }
    }
}
