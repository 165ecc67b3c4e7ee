//! `vsched completions SHELL` and `vsched man`: shell completions and a man
//! page generated from the command-line definition itself, so they cannot
//! drift from it.

use std::io::Write;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::{Cli, Failure};

#[derive(Args)]
#[command(after_help = "Example:\n  vsched completions bash > /etc/bash_completion.d/vsched")]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: Shell,
}

pub(crate) fn completions(a: &CompletionsArgs) -> Result<(), Failure> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "vsched", &mut std::io::stdout());
    Ok(())
}

/// Prints `vsched(1)` in roff (`vsched man | man -l -`).
pub(crate) fn man() -> Result<(), Failure> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut buf)
        .map_err(|e| Failure::Internal(format!("man page: {e}")))?;
    let _ = std::io::stdout().lock().write_all(&buf);
    Ok(())
}
