import Foundation
import WeftNN

/// Writes a temporary file beside `path` (creating its folder) and renames it over `path`,
/// so readers never see half a file and an interrupted run leaves the old one intact. A
/// symbolic link at `requested` is followed: the file it points to is replaced.
public func writeAtomically(_ data: Data, to requested: String) throws {
    let path = writeTarget(of: requested)
    let folder = (path as NSString).deletingLastPathComponent
    let temporary = path + ".tmp.\(getpid())"
    do {
        if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        try data.write(to: URL(fileURLWithPath: temporary))
    } catch {
        unlink(temporary)
        throw TrainingError("cannot write \(path): \(fileErrorReason(error))")
    }
    guard rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        throw TrainingError("cannot write \(path): \(reason)")
    }
}

/// `value` as indented JSON with sorted keys (files people read and diff), written atomically.
func writeJSONAtomically<T: Encodable>(_ value: T, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeAtomically(try encoder.encode(value), to: path)
}
