import Foundation

/// The system's reason behind a Foundation file error ("No such file or directory", "Is a
/// directory"), so a failed write reads as one line rather than an NSError dump.
public func fileErrorReason(_ error: Error) -> String {
    // On Linux the underlying error is a POSIXError value, which does not cast to NSError.
    let error = error as NSError
    if let underlying = error.userInfo[NSUnderlyingErrorKey] as? Error {
        let posix = underlying as NSError
        if posix.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(posix.code))) }
    }
    if error.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(error.code))) }
    return error.localizedDescription
}
