import Foundation

/// Ctrl-C handling: the first SIGINT asks the training loop to save a checkpoint and stop at the
/// end of the current step; a second one exits at once.
public enum Interrupt {
    nonisolated(unsafe) private static var count: Int32 = 0
    nonisolated(unsafe) private static var installed = false

    public static var requested: Bool { count > 0 }

    public static func install() {
        guard !installed else { return }
        installed = true
        signal(SIGINT) { _ in
            Interrupt.count += 1
            if Interrupt.count >= 2 { _exit(130) }
            let msg = "\nInterrupted: saving a checkpoint after this step (Ctrl-C again to quit now)\n"
            msg.withCString { _ = write(2, $0, strlen($0)) }
        }
    }

    /// For tests: pretend Ctrl-C was pressed, or clear it.
    public static func simulate(_ on: Bool = true) { count = on ? 1 : 0 }
}
