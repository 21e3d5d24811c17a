import Foundation

/// Progress on stderr from rank 0 only: a redrawn bar with samples/s and ETA on a
/// terminal, one plain line per epoch otherwise (logs stay readable).
public final class ProgressReporter: @unchecked Sendable {
    private let enabled: Bool
    private let terminal: Bool
    private var lastDraw = Date.distantPast
    private var started = Date()

    public init(rank: Int) {
        enabled = rank == 0
        terminal = isatty(2) != 0
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    public func note(_ text: String) {
        if enabled { write("weft: \(text)\n") }
    }

    public func step(epoch: Int, of epochs: Int, batch: Int, of batches: Int, loss: Double, samplesPerSecond: Double) {
        guard enabled && terminal && Date().timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = Date()
        let done = Double(epoch * batches + batch) / Double(epochs * batches)
        let elapsed = Date().timeIntervalSince(started)
        let eta = done > 0 ? elapsed * (1 - done) / done : 0
        let width = 30, filled = Int(done * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        write(String(format: "\r\u{1B}[2Kepoch %ld/%ld %@ %3.0f%%  loss %.4f  %.0f samples/s  ETA %.0fs",
                     epoch + 1, epochs, bar, done * 100, loss, samplesPerSecond, eta))
    }

    public func epochDone(epoch: Int, of epochs: Int, loss: Double, seconds: Double) {
        guard enabled else { return }
        if terminal { write("\r\u{1B}[2K") }
        write(String(format: "epoch %ld/%ld  train loss %.4f  %.1fs\n", epoch, epochs, loss, seconds))
    }
}
