import Foundation

/// Writes `bytes` to the file at `requested` so that readers, and a crash at any moment,
/// see either the previous file or the whole new one, never half of one and never none.
///
/// A symbolic link at `requested` is followed (`writeTarget`): the file it points to is
/// replaced and the link kept. The steps: create the target's folder if missing, write a
/// temporary file beside the target, fsync it, rename it over the target, fsync the folder
/// (so the rename itself survives a crash). On failure the temporary file is removed and
/// the previous file is left as it was (only a failed sync of the folder is reported after
/// the new file is in place). Errors are one line with the system's reason, naming the file
/// as `what` (such as "checkpoint") when given: "cannot write checkpoint PATH: No space
/// left on device", "cannot create checkpoint folder FOLDER: Not a directory".
///
/// The bytes are written from where they are; nothing is copied.
public func writeAtomically(_ bytes: some ContiguousBytes, to requested: String, as what: String? = nil) throws {
    let path = writeTarget(of: requested)
    let named = what.map { "\($0) " } ?? ""
    func failure(_ reason: String) -> FileWriteError {
        FileWriteError(message: "cannot write \(named)\(path): \(reason)")
    }
    let folder = (path as NSString).deletingLastPathComponent
    if !folder.isEmpty {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw FileWriteError(message: "cannot create \(named)folder \(folder): \(fileErrorReason(error))")
        }
    }
    let temporary = "\(path).tmp.\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
    guard fd >= 0 else { throw failure(systemReason()) }
    // Everything from here on that fails removes the temporary file.
    var reason = bytes.withUnsafeBytes { writeAll($0, to: fd) }
    if reason == nil && fsync(fd) != 0 { reason = systemReason() }
    if close(fd) != 0 && reason == nil { reason = systemReason() }
    if reason == nil && rename(temporary, path) != 0 { reason = systemReason() }
    if let reason {
        unlink(temporary)
        throw failure(reason)
    }
    // The rename is durable once the folder's entry is: fsync the folder. A folder this
    // process cannot open for reading, or a file system that cannot sync one (EINVAL,
    // ENOTSUP), is no error; any other failure (EIO) is, though the new file is in place.
    let folderDescriptor = open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if folderDescriptor >= 0 {
        let synced = fsync(folderDescriptor) == 0 || errno == EINVAL || errno == ENOTSUP
        let why = synced ? nil : systemReason()
        close(folderDescriptor)
        if let why { throw failure(why) }
    }
}

/// A file that could not be written, with the system's reason, in one line.
public struct FileWriteError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
}

/// Writes all of `bytes` to `fd`, retrying short and interrupted writes; nil, or the reason
/// it failed.
private func writeAll(_ bytes: UnsafeRawBufferPointer, to fd: Int32) -> String? {
    var written = 0
    while written < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return n < 0 ? systemReason() : String(cString: strerror(EIO)) }
        written += n
    }
    return nil
}

private func systemReason() -> String { String(cString: strerror(errno)) }
