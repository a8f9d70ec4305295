import Foundation

/// A self-contained HTML report of a run: loss, validation loss and learning-rate curves as
/// inline SVG, and the final figures. No scripts, no network: it opens anywhere.
public enum Report {
    public static func write(entries: [RunLog.Entry], config: TrainingConfig, to url: URL) throws {
        let series: [(String, String, String)] = [
            ("loss", "training loss", "#2563eb"), ("validation_loss", "validation loss", "#dc2626"),
            ("learning_rate", "learning rate", "#16a34a"), ("tokens_per_second", "tokens / second", "#9333ea"),
        ]
        var charts = ""
        for (key, title, color) in series {
            let points = entries.compactMap { e in e.values[key].map { (Double(e.step), $0) } }
            guard !points.isEmpty else { continue }
            charts += chart(title: title, points: points, color: color)
        }
        let last = entries.last { $0.values["loss"] != nil }?.values["loss"]
        let lastValid = entries.last { $0.values["validation_loss"] != nil }?.values["validation_loss"]
        var summary = "<tr><td>steps</td><td>\(entries.map(\.step).max() ?? 0) / \(config.maxSteps)</td></tr>"
        if let last { summary += "<tr><td>final training loss</td><td>\(String(format: "%.4f", last))</td></tr>" }
        if let lastValid {
            summary += "<tr><td>final validation loss</td><td>\(String(format: "%.4f", lastValid)) (perplexity \(String(format: "%.2f", Foundation.exp(lastValid))))</td></tr>"
        }
        summary += "<tr><td>optimizer</td><td>\(config.optimizer.rawValue), lr \(config.learningRate), \(config.schedule.rawValue) decay, warmup \(config.warmupSteps)</td></tr>"
        let html = """
        <!doctype html><html><head><meta charset="utf-8"><title>PostTrain run report</title>
        <style>body{font:14px system-ui,sans-serif;margin:2em;color:#111}h1{font-size:20px}
        .charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;border:1px solid #ddd;padding:8px}
        figcaption{font-weight:600;margin-bottom:4px}td{padding:2px 12px 2px 0}</style></head><body>
        <h1>PostTrain run report</h1><table>\(summary)</table><div class="charts">\(charts)</div></body></html>
        """
        try Data(html.utf8).write(to: url, options: .atomic)
    }

    static func chart(title: String, points: [(Double, Double)], color: String) -> String {
        let w = 420.0, h = 220.0, pad = 44.0
        let xs = points.map(\.0), ys = points.map(\.1).filter(\.isFinite)
        guard let x0 = xs.min(), let x1 = xs.max(), let y0 = ys.min(), let y1 = ys.max() else { return "" }
        let dx = max(x1 - x0, 1), dy = max(y1 - y0, 1e-12)
        func px(_ x: Double) -> Double { pad + (x - x0) / dx * (w - pad - 10) }
        func py(_ y: Double) -> Double { h - pad + 10 - (y - y0) / dy * (h - pad - 10) }
        let path = points.filter { $0.1.isFinite }.map { String(format: "%.1f,%.1f", px($0.0), py($0.1)) }.joined(separator: " ")
        let fmt: (Double) -> String = { abs($0) < 1e-2 || abs($0) >= 1e4 ? String(format: "%.2e", $0) : String(format: "%.3f", $0) }
        return """
        <figure><figcaption>\(title)</figcaption><svg width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))">
        <line x1="\(pad)" y1="\(h - pad + 10)" x2="\(w - 10)" y2="\(h - pad + 10)" stroke="#999"/>
        <line x1="\(pad)" y1="10" x2="\(pad)" y2="\(h - pad + 10)" stroke="#999"/>
        <text x="2" y="16" font-size="10">\(fmt(y1))</text><text x="2" y="\(h - pad + 10)" font-size="10">\(fmt(y0))</text>
        <text x="\(pad)" y="\(h - 18)" font-size="10">step \(Int(x0))</text><text x="\(w - 70)" y="\(h - 18)" font-size="10">step \(Int(x1))</text>
        <polyline fill="none" stroke="\(color)" stroke-width="1.5" points="\(path)"/>\(points.count == 1 ? "<circle cx=\"\(px(points[0].0))\" cy=\"\(py(points[0].1))\" r=\"3\" fill=\"\(color)\"/>" : "")
        </svg></figure>
        """
    }
}
