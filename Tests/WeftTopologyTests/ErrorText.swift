/// What `body` throws, as text (the line a user would read), or "no error": tests compare
/// refusals with their exact message.
func errorText(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "no error"
    } catch {
        return "\(error)"
    }
}
