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

    /// The flags of a run.
    #[command(flatten)]
    pub run: RunFlags,

    /// Other commands.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The flags of a run (a sync, `plan` or `apply`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunFlags {
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

    /// Symbolic links in the source: follow those pointing inside it (default), skip all,
    /// or follow all (loops are always skipped). Overrides the config's `symlinks`.
    #[arg(long = "symlinks", value_name = "POLICY", value_enum)]
    pub symlinks: Option<crate::local::Symlinks>,

    /// Where local file times come from: `git` (the last commit that changed each tracked,
    /// unmodified file; for deploys from a fresh clone) or `filesystem` (default: the
    /// config's `mtime_from`).
    #[arg(long = "mtime-from", value_name = "SOURCE", value_parser = parse_mtime_from)]
    pub mtime_from: Option<crate::config::MtimeFrom>,

    /// Write the run's events as newline-delimited JSON to stdout (schema in README, "JSON
    /// events"); the human lines go to stderr, or nowhere with -q.
    #[arg(long = "json")]
    pub json: bool,
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
    /// Plan a sync without changing anything and save the plan, with a fingerprint of every
    /// listing it was made from, for `peex apply`.
    Plan {
        /// The site's configuration file.
        #[arg(value_name = "CONFIG")]
        config: PathBuf,
        /// Where to write the plan (JSON).
        #[arg(short = 'o', long = "out", value_name = "PLAN.json")]
        out: PathBuf,
        /// The flags of the run.
        #[command(flatten)]
        run: RunFlags,
    },
    /// Carry out a plan saved by `peex plan`: list both sides again and, if anything the
    /// plan would touch has changed since, stop before any change (exit 4, naming what
    /// drifted); otherwise do exactly what the plan says.
    Apply {
        /// The plan file.
        #[arg(value_name = "PLAN.json")]
        plan: PathBuf,
        /// The site's configuration file (default: the one the plan was made with, as it
        /// was given, relative to the current directory).
        #[arg(long = "site", value_name = "CONFIG")]
        site: Option<PathBuf>,
        /// The flags of the run.
        #[command(flatten)]
        run: RunFlags,
    },
    /// Print a completion script for a shell (bash, zsh, fish, powershell, elvish).
    Completions {
        /// The shell.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    Man,
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

fn parse_mtime_from(s: &str) -> Result<crate::config::MtimeFrom, String> {
    crate::config::MtimeFrom::parse(s)
        .ok_or_else(|| format!("expected `git` or `filesystem`, got `{s}`"))
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
        let (dry_run, c) = (c.dry_run, c.run);
        assert!(dry_run && c.color);
        assert_eq!(c.verbose, 2);
        assert_eq!(c.jobs, Some(8));
        assert!(Cli::try_parse_from(["peex"]).is_err());
        assert!(Cli::try_parse_from(["peex", "-j", "0", "x"]).is_err());
        let c = Cli::try_parse_from(["peex", "plugins"]).unwrap();
        assert!(matches!(c.command, Some(Command::Plugins { .. })));
    }
}
