import WeftNN

/// Kendall's tau-b between two score lists (ties counted as neither concordant nor discordant).
public func kendallTau(_ x: [Double], _ y: [Double]) -> Double {
    var concordant = 0.0, discordant = 0.0, tiesX = 0.0, tiesY = 0.0
    for i in x.indices {
        for j in (i + 1)..<x.count {
            let a = x[i] - x[j], b = y[i] - y[j]
            if a == 0 && b == 0 { continue }
            if a == 0 { tiesX += 1; continue }
            if b == 0 { tiesY += 1; continue }
            if (a > 0) == (b > 0) { concordant += 1 } else { discordant += 1 }
        }
    }
    let denominator = ((concordant + discordant + tiesX) * (concordant + discordant + tiesY)).squareRoot()
    return denominator > 0 ? (concordant - discordant) / denominator : 0
}

/// A percentile bootstrap interval for Kendall's tau: the pairs (x[i], y[i]) resampled with
/// replacement `resamples` times from a seeded stream, tau-b of each resample, and the
/// (1 − level)/2 and (1 + level)/2 quantiles. With 10–20 architectures one tau is a rough
/// reading (its standard error is about 0.15); the interval says how rough.
public func kendallTauInterval(_ x: [Double], _ y: [Double], level: Double = 0.9, resamples: Int = 2000,
                               seed: UInt64 = 0x7A0) -> ClosedRange<Double> {
    precondition(x.count == y.count && x.count >= 2 && resamples >= 1 && level > 0 && level < 1)
    var random = SeededRandom(seed: seed)
    var taus = [Double]()
    taus.reserveCapacity(resamples)
    var rx = x, ry = y
    for _ in 0..<resamples {
        for k in x.indices {
            let i = Int(random.next() % UInt64(x.count))
            rx[k] = x[i]
            ry[k] = y[i]
        }
        taus.append(kendallTau(rx, ry))
    }
    taus.sort()
    let tail = (1 - level) / 2
    let low = taus[Int((tail * Double(resamples - 1)).rounded())]
    let high = taus[Int(((1 - tail) * Double(resamples - 1)).rounded())]
    return low...high
}
