//! # peex-plugin-host: loads peex plugins and adapts them to the core contract
//!
//! Finds plugin libraries, validates them ([`peex_plugin_abi::check_descriptor`]), and
//! adapts what they provide to `peex_core::Transport` / `RemoteFs` / `Filter`, so that a
//! program embedding peex's engine (or any program speaking the `peex-core` contract) can use
//! the same plugins as the `peex` command. This is the embedding API:
//!
//! ```ignore
//! use peex_plugin_host::{DiscoveryEnv, PluginHost};
//! // names already taken (built-in transports/filters) refuse a plugin claiming them
//! let host = PluginHost::discover(&explicit_paths, &["ftp", "sftp"], &[]);
//! for c in host.candidates() { /* c.path, c.result: Ok(PluginInfo) or Err(reason) */ }
//! if let Some(t) = host.transport("webdav") {
//!     host.check_site("webdav", &site)?;   // declared options, host requirement
//!     let mut conn = t.connect(&site)?;    // Box<dyn RemoteFs>
//! }
//! let f = host.filter("gitignore", &options)?; // options include "source_root"
//! print!("{}", host.render_listing());       // what `peex plugins` prints
//! ```
//!
//! A refused candidate (not a plugin, an ABI 1.x plugin, wrong magic, another major,
//! truncated table, name clash, failing `init`) is listed with its reason and never used;
//! nothing a plugin declares can crash the host. Loaded libraries are never unloaded.
//!
//! `connect` receives the `SiteParams` as key/value pairs (`peex_plugin_abi::site_keys`,
//! converted by `peex-plugin-bridge`). Every filter's `create` receives the options the
//! user gave it; the engine adds `source_root` (the local source directory).

mod discover;
#[allow(unsafe_code)]
mod filter;
#[allow(unsafe_code)]
mod library;
#[allow(unsafe_code)]
mod stream;
#[cfg(test)]
mod tests;
#[allow(unsafe_code)]
mod transport;

pub use discover::DiscoveryEnv;
pub use peex_plugin_abi::{OptionInfo, PluginInfo, TransportInfo};

use library::Loaded;
use peex_core::{Error, ErrorKind};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One library found during discovery: what it provides, or why it was refused.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The library's path as found.
    pub path: PathBuf,
    /// What it declares, or the reason it was refused.
    pub result: Result<PluginInfo, String>,
}

/// Loaded plugins and what they provide.
pub struct PluginHost {
    candidates: Vec<Candidate>,
    searched: Vec<PathBuf>,
    transports: BTreeMap<String, Arc<transport::PluginTransport>>,
    filters: BTreeMap<String, (Arc<Loaded>, usize)>,
}

impl PluginHost {
    /// Discovers plugins. Order: `explicit` paths (config `plugins:` and `--plugin PATH`,
    /// files or dirs), then `$PEEX_PLUGIN_PATH` (colon-separated dirs or files), then
    /// `$XDG_DATA_HOME/peex/plugins` (default `~/.local/share/peex/plugins`), then
    /// `<dir of current exe>/../lib/peex/plugins`. Candidates: `*.so`/`*.dylib`/`*.dll`.
    /// A scheme or filter name already taken by a built-in or an earlier plugin refuses the
    /// later candidate.
    pub fn discover(
        explicit: &[PathBuf],
        builtin_transports: &[&str],
        builtin_filters: &[&str],
    ) -> PluginHost {
        Self::discover_with(
            explicit,
            &DiscoveryEnv::from_process(),
            builtin_transports,
            builtin_filters,
        )
    }

    /// [`PluginHost::discover`] with an explicit environment (for tests and embedding).
    pub fn discover_with(
        explicit: &[PathBuf],
        env: &DiscoveryEnv,
        builtin_transports: &[&str],
        builtin_filters: &[&str],
    ) -> PluginHost {
        let mut host = PluginHost {
            candidates: Vec::new(),
            searched: Vec::new(),
            transports: BTreeMap::new(),
            filters: BTreeMap::new(),
        };
        // Who owns each name: "the built-in transport ftp" / "plugin \"x\" (path)".
        let mut scheme_owner: BTreeMap<String, String> = builtin_transports
            .iter()
            .map(|s| ((*s).to_owned(), format!("the built-in transport {s:?}")))
            .collect();
        let mut filter_owner: BTreeMap<String, String> = builtin_filters
            .iter()
            .map(|s| ((*s).to_owned(), format!("the built-in filter {s:?}")))
            .collect();
        let mut seen: HashSet<PathBuf> = HashSet::new();
        for root in discover::search_roots(explicit, env) {
            host.searched.push(root.path.clone());
            let files = match discover::expand(&root) {
                Ok(f) => f,
                Err(reason) => {
                    host.candidates.push(Candidate {
                        path: root.path.clone(),
                        result: Err(reason),
                    });
                    continue;
                }
            };
            for path in files {
                let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                if !seen.insert(key) {
                    continue; // the same library reached through two locations
                }
                let result = host.admit(&path, &mut scheme_owner, &mut filter_owner);
                host.candidates.push(Candidate { path, result });
            }
        }
        host
    }

    fn admit(
        &mut self,
        path: &Path,
        scheme_owner: &mut BTreeMap<String, String>,
        filter_owner: &mut BTreeMap<String, String>,
    ) -> Result<PluginInfo, String> {
        let loaded = library::load(path)?;
        let info = loaded.info.clone();
        for t in &info.transports {
            if let Some(owner) = scheme_owner.get(&t.scheme) {
                return Err(format!(
                    "transport scheme {:?} is already provided by {owner}",
                    t.scheme
                ));
            }
        }
        for f in &info.filters {
            if let Some(owner) = filter_owner.get(&f.name) {
                return Err(format!(
                    "filter name {:?} is already provided by {owner}",
                    f.name
                ));
            }
        }
        let who = format!("plugin {:?} ({})", info.name, path.display());
        let loaded = Arc::new(loaded);
        for (i, t) in info.transports.iter().enumerate() {
            scheme_owner.insert(t.scheme.clone(), who.clone());
            self.transports.insert(
                t.scheme.clone(),
                Arc::new(transport::PluginTransport::new(Arc::clone(&loaded), i)),
            );
        }
        for (i, f) in info.filters.iter().enumerate() {
            filter_owner.insert(f.name.clone(), who.clone());
            self.filters
                .insert(f.name.clone(), (Arc::clone(&loaded), i));
        }
        Ok(info)
    }

    /// Every library found, in discovery order, with what it provides or why it was refused.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The places searched, in order.
    pub fn searched(&self) -> &[PathBuf] {
        &self.searched
    }

    /// The plugin transport for `scheme`, if an accepted plugin provides it.
    pub fn transport(&self, scheme: &str) -> Option<Arc<dyn peex_core::Transport>> {
        self.transports
            .get(scheme)
            .map(|t| Arc::clone(t) as Arc<dyn peex_core::Transport>)
    }

    /// What the plugin providing `scheme` declares for it.
    pub fn transport_info(&self, scheme: &str) -> Option<&TransportInfo> {
        self.transports.get(scheme).map(|t| t.info())
    }

    /// Checks a site for the plugin transport `scheme` before connecting (`connect` checks
    /// again): only declared options (an unknown one names the closest declared one), every
    /// required option, and a host unless the transport declares `PEEX_TRANSPORT_NO_HOST`.
    /// `ConfigInvalid` otherwise, or when no plugin provides `scheme`.
    pub fn check_site(&self, scheme: &str, site: &peex_core::SiteParams) -> Result<(), Error> {
        match self.transports.get(scheme) {
            Some(t) => t.check_site(site),
            None => Err(Error::new(
                ErrorKind::ConfigInvalid,
                format!("no plugin provides transport {scheme:?}"),
            )),
        }
    }

    /// Creates an instance of the plugin filter `name` with `options` (the engine adds
    /// `source_root`). Unknown filter, a missing required option or an undeclared option
    /// (other than `source_root`; naming the closest declared one) is a `ConfigInvalid`
    /// error.
    pub fn filter(
        &self,
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Box<dyn peex_core::Filter>, Error> {
        let Some((lib, index)) = self.filters.get(name) else {
            return Err(Error::new(
                ErrorKind::ConfigInvalid,
                format!("unknown filter {name:?} (no plugin provides it; see `peex plugins`)"),
            ));
        };
        let info = &lib.info.filters[*index];
        peex_plugin_bridge::check_options(
            &format!("filter {name:?}"),
            &info.options,
            options.keys().map(String::as_str),
            &[peex_plugin_abi::FILTER_SOURCE_ROOT],
        )
        .map_err(|e| Error::new(ErrorKind::ConfigInvalid, e))?;
        Ok(Box::new(filter::PluginFilter::create(
            Arc::clone(lib),
            *index,
            options,
        )?))
    }

    /// What `peex plugins` prints: every candidate with its path, name, version, ABI and
    /// what it provides (options with help), and every refused one with its reason.
    pub fn render_listing(&self) -> String {
        let mut out = String::new();
        if self.candidates.is_empty() {
            out.push_str("no plugins found\n");
        }
        for c in &self.candidates {
            let _ = writeln!(out, "{}", c.path.display());
            match &c.result {
                Err(reason) => {
                    let _ = writeln!(out, "  refused: {reason}");
                }
                Ok(info) => {
                    let _ = writeln!(
                        out,
                        "  plugin {} {} (ABI {}, built with {})",
                        info.name,
                        info.version,
                        info.abi(),
                        if info.built_with.is_empty() {
                            "?"
                        } else {
                            &info.built_with
                        }
                    );
                    for t in &info.transports {
                        let caps = peex_plugin_bridge::caps_to_core(&t.caps);
                        let yn = |b: bool| if b { "yes" } else { "no" };
                        let _ = writeln!(
                            out,
                            "  transport {}: {} [set mtime: {}, get mtime: {}, rename over: {}, \
                             staged dirs: {}, needs host: {}, optional: {}]",
                            t.scheme,
                            t.description,
                            yn(caps.set_mtime != peex_core::MtimeMethod::Unsupported),
                            yn(caps.get_mtime),
                            match caps.rename_over {
                                peex_core::RenameOver::Atomic => "atomic",
                                peex_core::RenameOver::RemoveThenRename => "remove then rename",
                            },
                            yn(caps.rename_dirs),
                            yn(t.flags & peex_plugin_abi::PEEX_TRANSPORT_NO_HOST == 0),
                            if t.optional.is_empty() {
                                "none".to_owned()
                            } else {
                                t.optional.join(", ")
                            }
                        );
                        render_options(&mut out, &t.options);
                    }
                    for f in &info.filters {
                        let _ = writeln!(out, "  filter {}: {}", f.name, f.description);
                        render_options(&mut out, &f.options);
                    }
                }
            }
        }
        out.push_str("searched:");
        if self.searched.is_empty() {
            out.push_str(" (nothing)");
        }
        out.push('\n');
        for p in &self.searched {
            let _ = writeln!(out, "  {}", p.display());
        }
        out
    }
}

/// A plugin's declared options as the core's specs (the ABI carries no type or default:
/// every value is text), so that plugins and built-ins are validated and listed alike.
pub(crate) fn option_specs(options: &[OptionInfo]) -> Vec<peex_core::OptionSpec> {
    options
        .iter()
        .map(|o| peex_core::OptionSpec {
            name: o.name.clone(),
            help: o.help.clone(),
            ty: peex_core::OptionType::Text,
            default: None,
            secret: o.secret,
            required: o.required,
        })
        .collect()
}

fn render_options(out: &mut String, options: &[OptionInfo]) {
    out.push_str(&peex_core::options::render_table(&option_specs(options)));
}
