fn main() -> std::process::ExitCode {
    cartable::cli::main()
}
