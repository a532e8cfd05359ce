//! `cargo test` entry point (harness = false): the same runner and table as
//! `fence-suite`, with the device tests ignored unless FRESNEL_DEVICE_TESTS=1
//! or `-- --include-ignored` asks for them.

fn main() -> std::process::ExitCode {
    userspace_tests::cases::main(userspace_tests::cases::Mode::CargoTest)
}
