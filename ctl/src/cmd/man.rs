//! `man`: the man page (roff) on stdout.

use clap::CommandFactory;
use ssoagent_client::exit;

use crate::{Cli, failure::Failure};

pub fn run() -> Result<(), Failure> {
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout())
        .map_err(|e| Failure::new(exit::FAILED, e.to_string()))
}
