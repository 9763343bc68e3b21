//! The `peex` command; everything is in the library target (see `peex::run`).

fn main() -> std::process::ExitCode {
    peex::run()
}
