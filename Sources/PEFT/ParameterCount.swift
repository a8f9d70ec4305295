import Foundation
import NN

extension Adapters {
    /// Trainable and total parameter counts, counted as Hugging Face PEFT's
    /// `get_nb_trainable_parameters` does: a quantized matrix counts its logical weights
    /// (out × in), and its scales and biases, being quantization state, are not counted.
    public static func parameterCounts(_ model: Module) -> (trainable: Int, total: Int) {
        var trainable = 0, total = 0
        for (_, module) in model.modules() {
            let bits: Int? = switch module {
            case let q as QuantizedLinear: q.bits
            case let q as QuantizedEmbedding: q.bits
            default: nil
            }
            for (name, p) in module.items().parameters {
                var n = p.value.size
                if let bits {
                    if name == "scales" || name == "biases" { continue }
                    if name == "weight" { n = n * 32 / bits }
                }
                total += n
                if !module.frozenNames.contains(name) { trainable += n }
            }
        }
        return (trainable, total)
    }

    /// "trainable params: 2,442,240 || all params: 136,957,248 || trainable%: 1.7832", the line
    /// PEFT's `print_trainable_parameters` prints.
    public static func summary(_ model: Module) -> String {
        let (trainable, total) = parameterCounts(model)
        let percent = total == 0 ? 0 : 100 * Double(trainable) / Double(total)
        return "trainable params: \(grouped(trainable)) || all params: \(grouped(total)) || trainable%: \(String(format: "%.4f", percent))"
    }

    /// 1234567 → "1,234,567" whatever the locale.
    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n.magnitude))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return (n < 0 ? "-" : "") + out
    }
}
