import Foundation
import WeftNN

/// What an output option names: a file written at the end, or a folder written into.
enum OutputKind {
    case file, folder
}

/// Ends the job with one line, before any work, when `path` cannot take what `option`
/// writes: a run should not measure or train for minutes and only then fail to save.
/// A file's missing folders are an error unless `createsFolders` (the writer makes them);
/// a folder is created here, as its first write would.
func checkOutputPath(_ requested: String, option: String, _ kind: OutputKind, createsFolders: Bool = false) {
    // A file is written where a link at its path points (`writeTarget`), so that is checked.
    let path = kind == .file ? writeTarget(of: requested) : requested
    let noun = kind == .file ? "file" : "folder"
    guard !path.isEmpty else { failEverywhere("\(option) is empty; name a \(noun)") }
    let files = FileManager.default
    var isFolder: ObjCBool = false
    let exists = files.fileExists(atPath: path, isDirectory: &isFolder)
    if kind == .file && (path.hasSuffix("/") || (exists && isFolder.boolValue)) {
        failEverywhere("\(option) \(path) is a folder; name a file (a new one inside it, or elsewhere)")
    }
    // A device, FIFO or socket would be replaced by a regular file (files are written beside
    // and renamed over their path), so it is refused as WEFT_REPORT refuses it.
    var status = stat()
    if kind == .file && exists && stat(path, &status) == 0 && (status.st_mode & S_IFMT) != S_IFREG {
        failEverywhere("\(option) \(path) is a device or other special file; name a regular file")
    }
    if kind == .folder && exists && !isFolder.boolValue {
        failEverywhere("\(option) \(path) is a file; name a folder (it is created if missing)")
    }
    // The nearest existing folder on the way must be a folder this process can write in.
    let parent = (path as NSString).deletingLastPathComponent
    var ancestor = parent
    while !ancestor.isEmpty && !files.fileExists(atPath: ancestor) {
        ancestor = (ancestor as NSString).deletingLastPathComponent
    }
    if !ancestor.isEmpty && !(files.fileExists(atPath: ancestor, isDirectory: &isFolder) && isFolder.boolValue) {
        failEverywhere("\(option) \(path): \(ancestor) is a file, not a folder")
    }
    if ancestor != parent && kind == .file && !createsFolders {
        failEverywhere("\(option) \(path): folder \(parent) does not exist; create it or name another \(noun)")
    }
    if (kind == .file || !exists) && access(ancestor.isEmpty ? "." : ancestor, W_OK) != 0 {
        failEverywhere("\(option) \(path): cannot write in \(ancestor.isEmpty ? "the current folder" : ancestor): \(String(cString: strerror(errno)))")
    }
    if kind == .folder && !exists {
        do {
            try files.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            // Every rank checks: another may have made it in the meantime.
            if !(files.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue) {
                failEverywhere("\(option) \(path): cannot create the folder: \(fileErrorReason(error))")
            }
        }
    }
}
