//! peex: keep a remote site in step with a local folder.
//!
//! The application is a binary (`peex`); this library target exists so that the fuzz
//! targets, the benchmark and the tests can reach the configuration parsers and the engine.
//! It is not a stable API. [`run`] is the whole program; modules:
//!
//! - [`config`]: PEEX INI and RON site configurations;
//! - [`plan`]: the pure planner; [`sync`]: scan, guards and execution over a [`pool`] of
//!   connections; [`exceptions`]: ignore/protect rules and filters;
//! - [`output`]: PEEX's coloured lines and summary; [`exit`]: the exit-code policy;
//! - [`plugin_host`]: the `peex-plugin-host` crate, which loads third-party plugins (the
//!   application itself has no `unsafe`).

pub mod check;
pub mod cli;
pub mod config;
pub mod exceptions;
pub mod exit;
pub mod local;
pub mod output;
pub mod plan;
pub mod plugin_test;
pub mod pool;
pub mod readonly;
pub mod registry;
pub mod staging;
pub mod sync;

pub use peex_plugin_host as plugin_host;

use clap::Parser;
use exit::{Status, Stop};
use peex_core::{Filter, Transport};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

/// The whole program: parses the command line, runs, and returns the exit code.
pub fn run() -> ExitCode {
    let cli = cli::Cli::parse();
    match real_main(cli) {
        Ok(status) => status.into(),
        Err(stop) => {
            eprintln!("peex: {}", output::sanitize(&stop.message));
            stop.status.into()
        }
    }
}

fn real_main(cli: cli::Cli) -> Result<Status, Stop> {
    match &cli.command {
        Some(cli::Command::Plugins {
            action: Some(cli::PluginsAction::Test(args)),
            ..
        }) => return plugin_test::run(args),
        Some(cli::Command::Plugins { plugins, .. }) => {
            let mut all = cli.plugins.clone();
            all.extend(plugins.iter().cloned());
            let host = discover_plugins(&all);
            print!("{}", host.render_listing());
            return Ok(Status::Ok);
        }
        Some(cli::Command::Check {
            config,
            no_probe,
            jobs,
            plugins,
        }) => {
            let out = output::Reporter::new(false, 0, false, false);
            let mut all = cli.plugins.clone();
            all.extend(plugins.iter().cloned());
            let site = resolve(config, &all, &out)?;
            let job = check::CheckJob {
                transport: site.transport.as_ref(),
                params: site.params,
                display_dest: site.display_dest,
                jobs: jobs
                    .map(usize::from)
                    .or(site.cfg.jobs)
                    .unwrap_or(4)
                    .clamp(1, 64),
                probe: !no_probe,
                srcutime: site.cfg.srcutime,
            };
            return check::run(&job);
        }
        Some(cli::Command::Transports) => {
            for s in registry::builtin_schemes() {
                if let Some(t) = registry::builtin(s) {
                    println!("{s:8} {}", t.description());
                }
            }
            return Ok(Status::Ok);
        }
        None => {}
    }
    let Some(config_path) = cli.config.as_deref() else {
        return Err(Stop::new(Status::Usage, "no configuration file given"));
    };
    let colour = cli.color && std::env::var_os("NO_COLOR").is_none();
    let out = output::Reporter::new(colour, cli.verbose, cli.quiet, cli.dry_run);
    let site = resolve(config_path, &cli.plugins, &out)?;
    let cfg = &site.cfg;
    let jobs = cli
        .jobs
        .map(usize::from)
        .or(cfg.jobs)
        .unwrap_or(4)
        .clamp(1, 64);
    let decide = exceptions::Exceptions::new(cfg.rules.clone(), site.filters);
    let mut retry = pool::RetryPolicy::default();
    if let Some(r) = cli.retries.or(cfg.retries) {
        retry.retries = r;
    }
    let job = sync::SyncJob {
        source: cfg.source.clone(),
        transport: site.transport.clone(),
        params: site.params,
        decide: &decide,
        jobs,
        dry_run: cli.dry_run,
        srcutime: cfg.srcutime,
        max_delete: cli.max_delete.or(cfg.max_delete),
        retry,
        display_dest: site.display_dest,
    };
    out.detail(
        1,
        &format!(
            "peex: {} -> {} ({} connection{}{})",
            job.source.display(),
            job.display_dest,
            jobs,
            if jobs == 1 { "" } else { "s" },
            if cli.dry_run { ", dry run" } else { "" }
        ),
    );
    match sync::run(&job, &out)? {
        sync::Outcome::Complete => Ok(Status::Ok),
        sync::Outcome::Incomplete => Ok(Status::Incomplete),
    }
}

/// A site's configuration resolved into what a run needs.
struct Site {
    cfg: config::SiteConfig,
    transport: Arc<dyn Transport>,
    filters: Vec<Box<dyn Filter>>,
    params: peex_core::SiteParams,
    display_dest: String,
}

/// Loads the config, prints its warnings, finds the transport (built in, else a plugin) and
/// creates the plugin filters (step two of the CLI: flags and config → one resolved site).
fn resolve(
    config_path: &std::path::Path,
    extra_plugins: &[std::path::PathBuf],
    out: &output::Reporter,
) -> Result<Site, Stop> {
    let cfg = config::load(config_path).map_err(|e| Stop::new(Status::Usage, e.to_string()))?;
    for w in &cfg.warnings {
        out.warn(w);
    }
    let mut plugin_paths = cfg.plugins.clone();
    plugin_paths.extend(extra_plugins.iter().cloned());
    let needs_plugins = registry::builtin(&cfg.transport).is_none() || !cfg.filters.is_empty();
    let host = needs_plugins.then(|| discover_plugins(&plugin_paths));

    let transport: Arc<dyn Transport> = match registry::builtin(&cfg.transport) {
        Some(t) => Arc::new(StaticTransport(t)),
        None => {
            if let Some(why) = registry::compiled_out(&cfg.transport) {
                return Err(Stop::new(
                    Status::Usage,
                    format!("{}: {why}", cfg.file.display()),
                ));
            }
            match host.as_ref().and_then(|h| h.transport(&cfg.transport)) {
                Some(t) => {
                    if let Some(h) = host.as_ref() {
                        h.check_site(&cfg.transport, &cfg.to_site_params())
                            .map_err(|e| {
                                Stop::new(
                                    Status::Usage,
                                    format!("{}: {}", cfg.file.display(), e.message()),
                                )
                            })?;
                    }
                    t
                }
                None => {
                    return Err(Stop::new(
                        Status::Usage,
                        format!(
                            "{}: unknown transport {:?}: built in are {}; no plugin provides it \
                             (see `peex plugins`)",
                            cfg.file.display(),
                            cfg.transport,
                            registry::builtin_schemes().join(", ")
                        ),
                    ))
                }
            }
        }
    };

    let mut filters: Vec<Box<dyn Filter>> = Vec::new();
    for spec in &cfg.filters {
        let Some(h) = host.as_ref() else { break };
        let mut options: BTreeMap<String, String> = spec.options.clone();
        options
            .entry("source_root".to_owned())
            .or_insert_with(|| cfg.source.display().to_string());
        let f = h.filter(&spec.name, &options).map_err(|e| {
            Stop::new(
                Status::Usage,
                format!("{}: filter {:?}: {e}", cfg.file.display(), spec.name),
            )
        })?;
        filters.push(f);
    }

    let params = cfg.to_site_params();
    if params.option("host_key_check") == Some("false") {
        out.warn("SSH host key checking is OFF for this site (host_key_check: false)");
    }
    let display_dest = display_dest(&cfg, transport.default_port());
    Ok(Site {
        cfg,
        transport,
        filters,
        params,
        display_dest,
    })
}

fn discover_plugins(explicit: &[std::path::PathBuf]) -> plugin_host::PluginHost {
    plugin_host::PluginHost::discover(explicit, &registry::builtin_schemes(), &[])
}

/// `scheme://user@host:port/dest` — never the password.
fn display_dest(cfg: &config::SiteConfig, default_port: Option<u16>) -> String {
    if cfg.transport == "local" {
        return format!("local:{}", cfg.dest);
    }
    let user = if cfg.user.is_empty() {
        String::new()
    } else {
        format!("{}@", cfg.user)
    };
    let port = match cfg.port.or(default_port) {
        Some(p) => format!(":{p}"),
        None => String::new(),
    };
    let sep = if cfg.dest.starts_with('/') { "" } else { "/" };
    format!(
        "{}://{user}{}{port}{sep}{}",
        cfg.transport, cfg.host, cfg.dest
    )
}

/// Lets a `&'static dyn Transport` stand where an `Arc<dyn Transport>` is expected.
struct StaticTransport(&'static dyn Transport);

impl Transport for StaticTransport {
    fn scheme(&self) -> &str {
        self.0.scheme()
    }
    fn description(&self) -> &str {
        self.0.description()
    }
    fn default_port(&self) -> Option<u16> {
        self.0.default_port()
    }
    fn connect(
        &self,
        site: &peex_core::SiteParams,
    ) -> peex_core::Result<Box<dyn peex_core::RemoteFs>> {
        self.0.connect(site)
    }
}
