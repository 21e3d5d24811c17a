import Foundation

/// Where a write to `path` lands: the file a symbolic link at `path` points to (through
/// chains of links), else `path`. Files are written beside their path and renamed over it;
/// renaming over a link would replace the link with a regular file, where `>` and editors
/// update the file it points to.
public func writeTarget(of path: String) -> String {
    var current = path
    for _ in 0..<40 {  // the most links Linux follows in one lookup
        guard let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: current) else { break }
        current = destination.hasPrefix("/")
            ? destination : ((current as NSString).deletingLastPathComponent as NSString).appendingPathComponent(destination)
    }
    return current
}
