//! peex: keep a remote site in step with a local folder.
//!
//! The application is a binary (`peex`); this library target exists so that the fuzz
//! targets, the benchmark and the tests can reach the configuration parsers and the engine.
//! It is not a stable API. [`run`] is the whole program; modules:
//!
//! - [`config`]: PEEX INI and RON site configurations;
//! - the engine, by phase: [`sync`] (the orchestrator: connect, walk, guards, transfer,
//!   delete, summary) over a [`pool`] of connections with one [`retry`] policy; [`walk`]
//!   (both trees listed, each directory pair planned by [`plan`], the pure planner, asking
//!   [`exceptions`]: ignore/protect rules and filters); [`actions`] (the run's plan);
//!   [`transfer`] (mkdirs, upload streams, staged trees, [`staging`]); [`delete`];
//! - [`events`]: the events interface everything a run reports goes through; [`report`]:
//!   the reporter the engine calls; [`output`]: PEEX's coloured lines and summary (the human
//!   implementation); [`json`]: `--json`; [`planfile`]: `peex plan` / `peex apply`;
//! - [`gittime`]: `mtime_from = git`; [`compare`]: `compare = checksum | size`;
//! - [`exit`]: the exit-code policy;
//! - [`plugin_host`]: the `peex-plugin-host` crate, which loads third-party plugins (the
//!   application itself has no `unsafe`).

pub mod actions;
pub mod check;
pub mod cli;
pub mod compare;
pub mod config;
pub mod connect;
pub mod delete;
pub mod events;
pub mod exceptions;
pub mod exit;
pub mod gittime;
pub mod json;
pub mod local;
pub mod locks;
pub mod names;
pub mod output;
pub mod plan;
pub mod planfile;
pub mod plugin_test;
pub mod pool;
pub mod prelist;
pub mod readonly;
pub mod registry;
pub mod report;
pub mod retry;
pub mod staging;
pub mod sync;
pub mod transfer;
pub mod uploads;
pub mod walk;

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
            let mut all = cli.run.plugins.clone();
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
            let out = report::Reporter::new(false, 0, false, false);
            let mut all = cli.run.plugins.clone();
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
                    print!("{}", peex_core::options::render_table(&t.options()));
                }
            }
            return Ok(Status::Ok);
        }
        Some(cli::Command::Completions { shell }) => {
            let mut cmd = <cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "peex", &mut std::io::stdout());
            return Ok(Status::Ok);
        }
        Some(cli::Command::Man) => {
            let cmd = <cli::Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page).map_err(|e| {
                Stop::new(Status::Usage, format!("cannot render the man page: {e}"))
            })?;
            use std::io::Write;
            let _ = std::io::stdout().write_all(&page);
            return Ok(Status::Ok);
        }
        Some(cli::Command::Plan { config, out, run }) => {
            return run_site(config, run, Mode::Plan { out });
        }
        Some(cli::Command::Apply { plan, site, run }) => {
            let saved = match planfile::PlanFile::read(plan) {
                Ok(p) => p,
                Err(stop) => {
                    reporter(run, false, None).stopped(stop.status.code(), &stop.message);
                    return Err(stop);
                }
            };
            let config = site.clone().unwrap_or_else(|| saved.config.clone());
            return run_site(&config, run, Mode::Apply { plan: saved });
        }
        None => {}
    }
    let Some(config_path) = cli.config.as_deref() else {
        return Err(Stop::new(Status::Usage, "no configuration file given"));
    };
    run_site(
        config_path,
        &cli.run,
        Mode::Sync {
            dry_run: cli.dry_run,
        },
    )
}

/// What a run over a site does.
enum Mode<'a> {
    /// Sync (or, with `dry_run`, plan and print).
    Sync {
        /// `-d`.
        dry_run: bool,
    },
    /// Plan without changing anything and save the plan to `out`.
    Plan {
        /// The plan file to write.
        out: &'a std::path::Path,
    },
    /// Carry out a saved plan, after checking for drift.
    Apply {
        /// The plan.
        plan: planfile::PlanFile,
    },
}

/// The reporter of a run: the human output (on stderr with `--json`, none with `--json
/// -q`), the JSON events, and, for `plan`, the recorder.
fn reporter(
    flags: &cli::RunFlags,
    dry_run: bool,
    extra: Option<Box<dyn events::Events>>,
) -> report::Reporter {
    let colour = flags.color && std::env::var_os("NO_COLOR").is_none();
    let mut sinks: Vec<Box<dyn events::Events>> = Vec::new();
    if flags.json {
        sinks.push(Box::new(json::JsonEvents::stdout()));
        if !flags.quiet {
            sinks.push(Box::new(output::Human::new(
                colour,
                flags.verbose,
                false,
                dry_run,
                true,
            )));
        }
    } else {
        sinks.push(Box::new(output::Human::new(
            colour,
            flags.verbose,
            flags.quiet,
            dry_run,
            false,
        )));
    }
    sinks.extend(extra);
    report::Reporter::with_sinks(dry_run, sinks)
}

/// A run over the site of `config_path`: a sync, `plan` or `apply`.
fn run_site(
    config_path: &std::path::Path,
    flags: &cli::RunFlags,
    mode: Mode<'_>,
) -> Result<Status, Stop> {
    let recorder = match &mode {
        Mode::Plan { .. } | Mode::Apply { .. } => Some(Arc::new(planfile::Recorder::default())),
        Mode::Sync { .. } => None,
    };
    let dry_run = match &mode {
        Mode::Sync { dry_run } => *dry_run,
        Mode::Plan { .. } => true,
        Mode::Apply { .. } => false,
    };
    let out = reporter(
        flags,
        dry_run,
        recorder
            .clone()
            .map(|r| Box::new(planfile::Shared(r)) as Box<dyn events::Events>),
    );
    let r = run_site_with(config_path, flags, &mode, recorder.as_ref(), &out);
    if let Err(stop) = &r {
        out.stopped(stop.status.code(), &stop.message);
    }
    r
}

fn run_site_with(
    config_path: &std::path::Path,
    flags: &cli::RunFlags,
    mode: &Mode<'_>,
    recorder: Option<&Arc<planfile::Recorder>>,
    out: &report::Reporter,
) -> Result<Status, Stop> {
    let site = resolve(config_path, &flags.plugins, out)?;
    let cfg = &site.cfg;
    let jobs = flags
        .jobs
        .map(usize::from)
        .or(cfg.jobs)
        .unwrap_or(4)
        .clamp(1, 64);
    let decide = exceptions::Exceptions::new(cfg.rules.clone(), site.filters);
    let planned_from = match mode {
        Mode::Apply { plan } => config::MtimeFrom::parse(&plan.mtime_from),
        _ => None,
    };
    let mtime_from = flags.mtime_from.or(planned_from).unwrap_or(cfg.mtime_from);
    let git_times = match mtime_from {
        config::MtimeFrom::Filesystem => None,
        config::MtimeFrom::Git if cfg.srcutime => {
            return Err(Stop::new(
                Status::Usage,
                "--mtime-from git cannot be combined with srcutime (which sets local times \
                 from the server)",
            ))
        }
        config::MtimeFrom::Git => {
            let started = std::time::Instant::now();
            let t = gittime::GitTimes::read(&cfg.source).map_err(|e| match e {
                gittime::GitTimesError::Shallow(m) => Stop::new(Status::Refused, m),
                gittime::GitTimesError::Unusable(m) => Stop::new(Status::Usage, m),
            })?;
            out.detail(
                1,
                &format!(
                    "peex: times of {} files from git ({} commits read in {:.2} s)",
                    t.len(),
                    t.commits_read,
                    started.elapsed().as_secs_f64()
                ),
            );
            Some(t)
        }
    };
    if cfg.srcutime && cfg.compare == config::Compare::Checksum {
        return Err(Stop::new(
            Status::Usage,
            format!(
                "{}: compare = checksum cannot be combined with srcutime (it sets remote times)",
                cfg.file.display()
            ),
        ));
    }
    let mut retry = retry::RetryPolicy::default();
    if let Some(r) = flags.retries.or(cfg.retries) {
        retry.retries = r;
    }
    let dry_run = matches!(mode, Mode::Sync { dry_run: true } | Mode::Plan { .. });
    let applier = match (mode, recorder) {
        (Mode::Apply { plan }, Some(rec)) => {
            if plan.dest != site.display_dest {
                return Err(Stop::new(
                    Status::Usage,
                    format!(
                        "the plan was made for {}, but {} now points at {}; nothing was changed",
                        plan.dest,
                        config_path.display(),
                        site.display_dest
                    ),
                ));
            }
            Some(planfile::Applier {
                plan: plan.clone(),
                now: rec.clone(),
            })
        }
        _ => None,
    };
    let job = sync::SyncJob {
        source: cfg.source.clone(),
        symlinks: flags.symlinks.unwrap_or(cfg.symlinks),
        transport: site.transport.clone(),
        params: site.params,
        decide: &decide,
        jobs,
        dry_run,
        srcutime: cfg.srcutime,
        max_delete: flags.max_delete.or(cfg.max_delete),
        retry,
        display_dest: site.display_dest,
        git_times: git_times.as_ref(),
        compare: cfg.compare,
        gate: applier.as_ref().map(|a| a as &dyn actions::PlanGate),
    };
    out.start(&job.source.display().to_string(), &job.display_dest, jobs);
    let outcome = sync::run(&job, out)?;
    if let (Mode::Plan { out: path }, Some(rec)) = (mode, recorder) {
        rec.save(path, config_path, &job.display_dest, mtime_from)?;
    }
    match outcome {
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
    out: &report::Reporter,
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
                Some(t) => t,
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

    let params = cfg.to_site_params();
    // Every option is checked against what the transport declares, before it connects
    // (built-in or plugin alike, with the line and column where the file sets it).
    peex_core::options::validate(transport.scheme(), &transport.options(), &params).map_err(
        |e| {
            Stop::new(
                Status::Usage,
                cfg.option_error(&e.key, e.message).to_string(),
            )
        },
    )?;
    if registry::builtin(&cfg.transport).is_none() {
        // What else a plugin transport declares about sites (whether it needs a host).
        if let Some(h) = host.as_ref() {
            h.check_site(&cfg.transport, &params).map_err(|e| {
                Stop::new(
                    Status::Usage,
                    format!("{}: {}", cfg.file.display(), e.message()),
                )
            })?;
        }
    }

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
    fn options(&self) -> Vec<peex_core::OptionSpec> {
        self.0.options()
    }
    fn connect(
        &self,
        site: &peex_core::SiteParams,
    ) -> peex_core::Result<Box<dyn peex_core::RemoteFs>> {
        self.0.connect(site)
    }
}
