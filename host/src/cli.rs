//! The `myelin` command line.

use clap::{Parser, Subcommand};

/// Deep neural networks that train on a laptop and run bit for bit the same on a Cortex-M.
#[derive(Debug, Parser)]
#[command(name = "myelin", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the kernels this build selected for this CPU.
    Info,
}

/// Parses the arguments and runs the command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Info) {
        Command::Info => {
            println!("myelin {}", env!("CARGO_PKG_VERSION"));
            println!(
                "dot([1,2,3],[4,5,6]) = {}",
                myelin_core::kernels::dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0])
            );
        }
    }
    Ok(())
}
