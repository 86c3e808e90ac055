//! The `rbuild` binary: a thin shell around [`rbuild::cli`].

fn main() -> std::process::ExitCode {
    rbuild::cli::main()
}
