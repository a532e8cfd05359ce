//! The same suite as `cargo test --test suite`, as a binary with a fixed
//! name the VM rig can copy into its initramfs (no cargo needed there).

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    userspace_tests::harness::run_main(&args)
}
