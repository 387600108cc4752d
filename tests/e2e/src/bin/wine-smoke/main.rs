//! `wine-smoke DIR`: the Windows binaries under Wine against the Linux emulator (smoke.rs).
//! It runs on Linux; a Windows build of the workspace gets a stub that says so.

#[cfg(unix)]
mod smoke;

fn main() {
    #[cfg(unix)]
    smoke::main();
    #[cfg(not(unix))]
    {
        eprintln!("wine-smoke runs on Linux, driving the Windows binaries under Wine");
        std::process::exit(2);
    }
}
