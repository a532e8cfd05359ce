//! `cargo test` entry point: the suite's own harness (harness = false).

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    userspace_tests::harness::run_main(&args)
}
