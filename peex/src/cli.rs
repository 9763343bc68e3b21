//! Command-line flags (step one of two: raw flags; `main` resolves them with the config).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// peex keeps a remote site in step with a local folder: it lists the server, uploads what
/// is new or changed, sets remote modification times, and deletes what is gone locally —
/// except what the site's exception rules protect or ignore.
#[derive(Debug, Parser)]
#[command(
    name = "peex",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Exit codes: 0 done; 1 some operations failed (no deletes were run); 2 bad \
                  command line or configuration; 3 cannot connect, log in, verify the server \
                  or open dest; 4 stopped for safety before changing anything."
)]
pub struct Cli {
    /// The site's configuration file (PEEX INI format, or RON).
    #[arg(value_name = "CONFIG", required = true)]
    pub config: Option<PathBuf>,

    /// Dry run: compute and print the whole plan; change nothing on the server.
    #[arg(short = 'd', long = "dry-run")]
    pub dry_run: bool,

    /// More detail (repeatable: -v reasons and directories, -vv connection details).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors, warnings and the summary.
    #[arg(short = 'q', long = "quiet", conflicts_with = "verbose")]
    pub quiet: bool,

    /// Colour the output (PEEX's colours).
    #[arg(short = 'c', long = "color", visible_alias = "colour")]
    pub color: bool,

    /// Number of connections (default: the config's `jobs`, else 4).
    #[arg(short = 'j', long = "jobs", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,

    /// Stop before changing anything if the plan would delete more than N remote entries.
    #[arg(long = "max-delete", value_name = "N")]
    pub max_delete: Option<u64>,

    /// Retries of an operation after a temporary error (default 3).
    #[arg(long = "retries", value_name = "N")]
    pub retries: Option<u32>,

    /// Load a plugin library (file or directory; repeatable).
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,

    /// Other commands.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `peex plugins` does besides listing.
#[derive(Debug, Subcommand)]
pub enum PluginsAction {
    /// Run the RemoteFs conformance suite (the checks every built-in transport passes)
    /// against a plugin transport and report each check by name. It works in a new
    /// directory below --root, which it removes afterwards.
    Test(Box<crate::plugin_test::TestArgs>),
}

/// Commands besides syncing.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the plugins found, what each provides, and why any candidate was refused.
    Plugins {
        /// Also load this plugin library (file or directory; repeatable).
        #[arg(long = "plugin", value_name = "PATH")]
        plugins: Vec<PathBuf>,
        /// `test`: run the transport conformance suite against a plugin.
        #[command(subcommand)]
        action: Option<PluginsAction>,
    },
    /// List the transports built into this binary.
    Transports,
    /// Connect and report what the server offers and what peex will use (FEAT, listing,
    /// time setting, rename over a file, dotfiles, TLS, connection limit), changing nothing
    /// but a probe file created and removed in dest.
    Check {
        /// The site's configuration file.
        #[arg(value_name = "CONFIG")]
        config: std::path::PathBuf,
        /// Do not create the probe file.
        #[arg(long = "no-probe")]
        no_probe: bool,
        /// Connections to try to open at once (default: the site's jobs, else 4).
        #[arg(short = 'j', long = "jobs", value_name = "N",
              value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: Option<u16>,
        /// Load a plugin library (file or directory; repeatable).
        #[arg(long = "plugin", value_name = "PATH")]
        plugins: Vec<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn peex_flags_parse() {
        let c = Cli::try_parse_from(["peex", "-d", "-vv", "-c", "-j", "8", "site.peex"]).unwrap();
        assert!(c.dry_run && c.color);
        assert_eq!(c.verbose, 2);
        assert_eq!(c.jobs, Some(8));
        assert!(Cli::try_parse_from(["peex"]).is_err());
        assert!(Cli::try_parse_from(["peex", "-j", "0", "x"]).is_err());
        let c = Cli::try_parse_from(["peex", "plugins"]).unwrap();
        assert!(matches!(c.command, Some(Command::Plugins { .. })));
    }
}
