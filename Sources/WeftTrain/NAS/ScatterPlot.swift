import Foundation

/// A small SVG scatter plot: every scored architecture in grey, the Pareto front in
/// colour and joined, accuracy up the side, one cost along the bottom.
struct ScatterPlot {
    var title: String
    var xLabel: String
    var points: [(x: Double, y: Double)]
    var front: [(x: Double, y: Double)]

    func svg() -> String {
        let w = 640.0, h = 420.0, left = 70.0, right = 20.0, top = 40.0, bottom = 55.0
        let xs = (points + front).map(\.x), ys = (points + front).map(\.y)
        let x0 = xs.min() ?? 0, x1 = max(xs.max() ?? 1, x0 + 1e-9)
        let y0 = (ys.min() ?? 0) - 0.005, y1 = (ys.max() ?? 1) + 0.005
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * (w - left - right) }
        func py(_ y: Double) -> Double { top + (y1 - y) / (y1 - y0) * (h - top - bottom) }
        var out = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">",
                   "<rect width=\"\(Int(w))\" height=\"\(Int(h))\" fill=\"white\"/>",
                   "<text x=\"\(w / 2)\" y=\"22\" font-size=\"14\" text-anchor=\"middle\">\(title)</text>"]
        for i in 0...4 {
            let y = y0 + (y1 - y0) * Double(i) / 4, x = x0 + (x1 - x0) * Double(i) / 4
            out.append(String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", left, py(y), w - right, py(y)))
            out.append(String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.1f%%</text>", left - 6, py(y) + 4, y * 100))
            out.append(String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>", px(x), h - bottom + 18,
                              Self.format(x) as NSString))
        }
        out.append("<text x=\"\((left + w - right) / 2)\" y=\"\(h - 12)\" text-anchor=\"middle\">\(xLabel)</text>")
        for p in points {
            out.append(String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#bbb\"/>", px(p.x), py(p.y)))
        }
        let line = front.sorted { $0.x < $1.x }.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
        out.append("<polyline points=\"\(line)\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\"/>")
        for p in front {
            out.append(String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#d62728\"/>", px(p.x), py(p.y)))
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    static func format(_ x: Double) -> String {
        if abs(x) >= 10_000 { return String(format: "%.0fK", x / 1000) }
        if abs(x) >= 100 { return String(format: "%.0f", x) }
        return String(format: "%.3g", x)
    }
}
