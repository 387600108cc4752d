//! `completions SHELL`: shell completions on stdout.

use clap::CommandFactory;

use crate::{Cli, failure::Failure};

pub fn run(shell: clap_complete::Shell) -> Result<(), Failure> {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "ssoagentctl",
        &mut std::io::stdout(),
    );
    Ok(())
}
