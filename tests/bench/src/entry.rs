//! The bench's entry point: the bench itself (main.rs) drives Linux processes (ptrace, rusage,
//! signals), so a Windows build of the workspace gets a stub that says so.

#[cfg(unix)]
#[path = "main.rs"]
mod bench;
// The bench's modules name each other from the crate root (`crate::world`).
#[cfg(unix)]
use bench::{floor, report, shim, throughput, world};

fn main() {
    #[cfg(unix)]
    bench::main();
    #[cfg(not(unix))]
    {
        eprintln!("ssoagent-bench runs on Linux only");
        std::process::exit(2);
    }
}
