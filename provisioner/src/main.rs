//! The `provisioner` binary; everything lives in the library (`provisioner::cli`).

fn main() -> std::process::ExitCode {
    provisioner::cli::main()
}
