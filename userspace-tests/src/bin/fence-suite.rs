//! The suite as the VM runs it: a binary with a fixed name the rig copies
//! into its initramfs (no cargo needed there). Every test runs; the
//! arguments are libtest's (`--list`, `--exact`, `--skip`, a filter).

fn main() -> std::process::ExitCode {
    userspace_tests::cases::main(userspace_tests::cases::Mode::Suite)
}
