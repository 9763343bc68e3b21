//! `peex plugins test PLUGIN --scheme S [--option k=v]…`: the conformance suite
//! (`peex-conformance`, the checks every built-in transport passes) against a plugin
//! transport, each check reported by name — a plugin author's whole test loop, no Rust needed.
//!
//! Connections are opened as the engine opens them ([`crate::connect::open`]): the listing
//! contract is held by [`peex_core::Checked`] there too.
//!
//! The suite needs an empty root, so it works in a new directory `peex-conformance-PID`
//! below `--root`, created and (whatever the outcome) removed through the transport.

use crate::exit::{Status, Stop};
use crate::plugin_host::PluginHost;
use crate::registry;
use peex_core::{EntryKind, RelPath, RemoteFs, Secret, SiteParams};
use std::path::PathBuf;
use std::time::Duration;

/// The arguments of `peex plugins test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The plugin library to test.
    #[arg(value_name = "PLUGIN")]
    pub plugin: PathBuf,
    /// The transport scheme (of that plugin) to test.
    #[arg(long, value_name = "S")]
    pub scheme: String,
    /// A transport option (repeatable), as the site's `options` would give it.
    #[arg(long = "option", value_name = "K=V")]
    pub options: Vec<String>,
    /// A secret transport option (repeatable).
    #[arg(long = "secret-option", value_name = "K=V")]
    pub secret_options: Vec<String>,
    /// The server (omit for a transport that needs none).
    #[arg(long, default_value = "")]
    pub host: String,
    /// The port (default: the transport's).
    #[arg(long)]
    pub port: Option<u16>,
    /// The user name.
    #[arg(long, default_value = "")]
    pub user: String,
    /// The password.
    #[arg(long)]
    pub password: Option<String>,
    /// The remote root (as `dest` in a config); the checks run in a new directory below it.
    #[arg(long, value_name = "DEST")]
    pub root: String,
    /// A local directory where the server stores `--root` (e.g. the directory a test server
    /// serves): uploaded contents are then compared byte for byte; without it only sizes
    /// and listings are.
    #[arg(long, value_name = "DIR")]
    pub read_back: Option<PathBuf>,
    /// Timeout of one network operation, in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

fn pairs(list: &[String], what: &str) -> Result<Vec<(String, String)>, Stop> {
    list.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(Stop::new(
                Status::Usage,
                format!("{what} {kv:?}: expected NAME=VALUE"),
            )),
        })
        .collect()
}

fn join_root(root: &str, dir: &str) -> String {
    if root.is_empty() || root.ends_with('/') {
        format!("{root}{dir}")
    } else {
        format!("{root}/{dir}")
    }
}

/// Removes `dir` and everything in it through the transport (children first).
fn remove_tree(fs: &mut dyn RemoteFs, dir: &RelPath) -> peex_core::Result<()> {
    for e in fs.list(dir)? {
        let child = dir.join(&e.name)?;
        if e.kind == EntryKind::Dir {
            remove_tree(fs, &child)?;
        } else {
            fs.delete(&child)?;
        }
    }
    fs.rmdir(dir)
}

/// Runs the suite and prints one line per check; `Status::Incomplete` if any failed.
pub fn run(args: &TestArgs) -> Result<Status, Stop> {
    let host = PluginHost::discover_with(
        std::slice::from_ref(&args.plugin),
        &crate::plugin_host::DiscoveryEnv::default(),
        &registry::builtin_schemes(),
        &[],
    );
    let info = match host.candidates().first().map(|c| &c.result) {
        Some(Ok(info)) => info.clone(),
        Some(Err(why)) => {
            return Err(Stop::new(
                Status::Usage,
                format!("{}: refused: {why}", args.plugin.display()),
            ))
        }
        None => {
            return Err(Stop::new(
                Status::Usage,
                format!("{}: no plugin found there", args.plugin.display()),
            ))
        }
    };
    let Some(transport) = host.transport(&args.scheme) else {
        let have: Vec<&str> = info.transports.iter().map(|t| t.scheme.as_str()).collect();
        return Err(Stop::new(
            Status::Usage,
            format!(
                "plugin {:?} provides no transport {:?} (it provides: {})",
                info.name,
                args.scheme,
                if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(", ")
                }
            ),
        ));
    };
    let mut site = SiteParams {
        host: args.host.clone(),
        port: args.port,
        user: args.user.clone(),
        password: args.password.clone().map(Secret::new),
        root: args.root.clone(),
        timeout: Duration::from_secs(args.timeout.max(1)),
        ..SiteParams::default()
    };
    site.options.extend(pairs(&args.options, "--option")?);
    for (k, v) in pairs(&args.secret_options, "--secret-option")? {
        site.secret_options.insert(k, Secret::new(v));
    }
    host.check_site(&args.scheme, &site)
        .map_err(|e| Stop::new(Status::Usage, e.message().to_owned()))?;

    let scratch = format!("peex-conformance-{}", std::process::id());
    let scratch_rel =
        RelPath::parse(&scratch).map_err(|e| Stop::new(Status::Usage, e.to_string()))?;
    // Every connection is wrapped as the engine wraps its own (the listing contract is
    // `Checked`'s, not the bridge's), so the suite sees what a sync would.
    let mut base = crate::connect::open(transport.as_ref(), &site, false)
        .map_err(|e| Stop::new(Status::Connect, format!("connect to --root: {e}")))?;
    base.mkdir(&scratch_rel)
        .map_err(|e| Stop::new(Status::Connect, format!("mkdir {scratch}: {e}")))?;
    let mut inner = site.clone();
    inner.root = join_root(&site.root, &scratch);
    println!(
        "peex plugins test: plugin {} {} (ABI {}), transport {}, in {}",
        info.name,
        info.version,
        info.abi(),
        args.scheme,
        inner.root
    );
    let read_dir = args.read_back.as_ref().map(|d| d.join(&scratch));
    let read_back = |rel: &str| -> Option<Vec<u8>> {
        read_dir
            .as_ref()
            .and_then(|d| std::fs::read(d.join(rel)).ok())
    };
    let connect = || -> Box<dyn RemoteFs> {
        match crate::connect::open(transport.as_ref(), &inner, false) {
            Ok(c) => c,
            Err(e) => panic!("connect failed: {e}"),
        }
    };
    let results = peex_conformance::run_each(
        &connect,
        read_dir
            .is_some()
            .then_some(&read_back as &dyn Fn(&str) -> Option<Vec<u8>>),
    );
    let width = results.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut failed = 0;
    for (name, r) in &results {
        match r {
            Ok(()) => println!("  ok    {name}"),
            Err(msg) => {
                failed += 1;
                let msg = msg.replace('\n', "\n          ");
                println!("  FAIL  {name:width$}  {msg}");
            }
        }
    }
    if read_dir.is_none() {
        println!("  (stored contents not compared: give --read-back DIR to compare them)");
    }
    match remove_tree(base.as_mut(), &scratch_rel) {
        Ok(()) => {}
        Err(e) => println!("  note: could not remove {scratch}: {e}"),
    }
    let _ = base.quit();
    println!(
        "{} checks: {} passed, {failed} failed",
        results.len(),
        results.len() - failed
    );
    Ok(if failed == 0 {
        Status::Ok
    } else {
        Status::Incomplete
    })
}
