//! Checking what a plugin declares: the version rule and the descriptor validator.

use crate::*;

/// The version rule: `major` must equal [`PEEX_ABI_MAJOR`]; any `minor` loads (an older one
/// lacks the newer slots, a newer one's extra slots are ignored: see the crate docs). The
/// error says which way the mismatch goes and what to do.
pub fn check_version(major: u32, minor: u32) -> Result<(), String> {
    if major != PEEX_ABI_MAJOR {
        let advice = if major > PEEX_ABI_MAJOR {
            "upgrade peex".to_owned()
        } else {
            rebuild_advice()
        };
        return Err(format!(
            "built for plugin ABI {major}.{minor}, but this peex speaks ABI \
             {PEEX_ABI_MAJOR}.{PEEX_ABI_MINOR} (major versions must be equal; {advice})"
        ));
    }
    let _ = minor; // any minor of this major loads: tables are read by their size
    Ok(())
}

/// One option, as read from a validated descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionInfo {
    /// Name.
    pub name: String,
    /// Help line.
    pub help: String,
    /// Must be given.
    pub required: bool,
    /// Holds a secret.
    pub secret: bool,
}

/// One transport, as read from a validated descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportInfo {
    /// URL scheme.
    pub scheme: String,
    /// One line.
    pub description: String,
    /// Default port.
    pub default_port: Option<u16>,
    /// `PEEX_TRANSPORT_*` bits.
    pub flags: u32,
    /// Declared capabilities (zeros when none declared), with the bits of NULL optional
    /// slots cleared.
    pub caps: PeexCaps,
    /// The optional slots the vtable fills (as far as this host knows them):
    /// `set_mtime`, `get_mtime`, `upload_stream`, `mkdir_batch`.
    pub optional: Vec<&'static str>,
    /// Options.
    pub options: Vec<OptionInfo>,
}

/// One filter, as read from a validated descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterInfo {
    /// Name.
    pub name: String,
    /// One line.
    pub description: String,
    /// Options.
    pub options: Vec<OptionInfo>,
}

/// A validated descriptor, copied into owned Rust data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// ABI major it was built for.
    pub abi_major: u32,
    /// ABI minor it was built for.
    pub abi_minor: u32,
    /// Free text about the toolchain.
    pub built_with: String,
    /// Transports, in descriptor order.
    pub transports: Vec<TransportInfo>,
    /// Filters, in descriptor order.
    pub filters: Vec<FilterInfo>,
}

impl PluginInfo {
    /// `"2.1"`.
    pub fn abi(&self) -> String {
        format!("{}.{}", self.abi_major, self.abi_minor)
    }
}

const MAX_STR: usize = 64 * 1024;
const MAX_ITEMS: usize = 1024;

/// True for a valid transport scheme (RFC 3986's scheme syntax, lower case): a lowercase
/// ASCII letter, then lowercase letters, digits, `+`, `-`, `.`. The one rule for every
/// scheme: built-in, plugin, and the `transport` of a configuration.
pub fn valid_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// True for a valid filter or option name: ASCII letters, digits, `_`, `-`, `.`, non-empty.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

#[allow(unsafe_code)]
unsafe fn read_str(s: PeexStr, what: &str) -> Result<String, String> {
    if s.len > MAX_STR {
        return Err(format!("{what}: string of {} bytes is too long", s.len));
    }
    // SAFETY: the caller (check_descriptor's contract) guarantees the descriptor's strings
    // point to readable static data; null/len is checked by to_str.
    unsafe { s.to_str() }
        .map(str::to_owned)
        .map_err(|e| format!("{what}: {e}"))
}

#[allow(unsafe_code)]
unsafe fn read_options(
    ptr: *const PeexOptionSpec,
    n: usize,
    what: &str,
) -> Result<Vec<OptionInfo>, String> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if ptr.is_null() || n > MAX_ITEMS {
        return Err(format!("{what}: invalid option table ({n} options)"));
    }
    // SAFETY: non-null and, by the descriptor contract, an array of n option specs.
    let specs = unsafe { std::slice::from_raw_parts(ptr, n) };
    let mut out: Vec<OptionInfo> = Vec::with_capacity(n);
    for (i, spec) in specs.iter().enumerate() {
        // SAFETY: strings of a descriptor point to static data (contract).
        let name = unsafe { read_str(spec.name, &format!("{what} option {i} name")) }?;
        if !valid_name(&name) {
            return Err(format!("{what}: invalid option name {name:?}"));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(format!("{what}: option {name:?} declared twice"));
        }
        // SAFETY: as above.
        let help = unsafe { read_str(spec.help, &format!("{what} option {name} help")) }?;
        out.push(OptionInfo {
            name,
            help,
            required: spec.flags & PEEX_OPT_REQUIRED != 0,
            secret: spec.flags & PEEX_OPT_SECRET != 0,
        });
    }
    Ok(out)
}

/// Validates a descriptor returned by `peex_plugin_v2` and copies what it declares.
///
/// Checks, in order: non-null, magic, the version rule, `struct_size` of the descriptor and
/// of every vtable against the minimum for the declared minor, UTF-8 and non-empty names,
/// valid schemes and filter names, no duplicate within the plugin, every required function
/// present. Clashes with other plugins or built-ins are the host's business.
///
/// # Safety
/// `desc` must be null or point to memory readable for at least the header (magic, versions,
/// flags, struct_size) and, if its `struct_size` is large enough, to a descriptor whose
/// pointers reference readable data as the ABI describes, for as long as the library stays
/// loaded.
#[allow(unsafe_code)]
pub unsafe fn check_descriptor(desc: *const PeexPluginDescriptor) -> Result<PluginInfo, String> {
    if desc.is_null() {
        return Err(format!(
            "{PEEX_PLUGIN_SYMBOL} returned no descriptor (null)"
        ));
    }
    // SAFETY: non-null; the header fields are readable per the contract above.
    let (magic, major, minor, size) = unsafe {
        (
            std::ptr::addr_of!((*desc).magic).read(),
            std::ptr::addr_of!((*desc).abi_major).read(),
            std::ptr::addr_of!((*desc).abi_minor).read(),
            std::ptr::addr_of!((*desc).struct_size).read(),
        )
    };
    if magic != PEEX_MAGIC {
        return Err(format!(
            "bad magic 0x{magic:08x} (expected 0x{PEEX_MAGIC:08x}, \"PEEX\"): not a peex plugin \
             descriptor"
        ));
    }
    check_version(major, minor)?;
    let min = min_descriptor_size(minor);
    if size < min {
        return Err(format!(
            "truncated descriptor: struct_size {size} is smaller than {min}, the minimum for ABI \
             {major}.{minor}"
        ));
    }
    // SAFETY: struct_size covers every field this host knows (checked above); zeroed is valid.
    let d = unsafe { read_table(desc, size) };
    // SAFETY: descriptor strings point to static data (contract).
    let name = unsafe { read_str(d.name, "plugin name") }?;
    if name.trim().is_empty() {
        return Err("empty plugin name".to_owned());
    }
    // SAFETY: as above.
    let version = unsafe { read_str(d.version, "plugin version") }?;
    // SAFETY: as above.
    let built_with = unsafe { read_str(d.built_with, "built_with") }?;
    if d.n_transports > MAX_ITEMS || d.n_filters > MAX_ITEMS {
        return Err("too many transports or filters".to_owned());
    }
    if (d.n_transports > 0 && d.transports.is_null()) || (d.n_filters > 0 && d.filters.is_null()) {
        return Err("null transport or filter table".to_owned());
    }
    let mut transports: Vec<TransportInfo> = Vec::new();
    for i in 0..d.n_transports {
        // SAFETY: non-null array of n_transports pointers (contract).
        let vt = unsafe { *d.transports.add(i) };
        if vt.is_null() {
            return Err(format!("transport {i}: null vtable"));
        }
        // SAFETY: non-null; struct_size is the first field and always present.
        let vsize = unsafe { std::ptr::addr_of!((*vt).struct_size).read() };
        let vmin = min_transport_size(minor);
        if vsize < vmin {
            return Err(format!(
                "transport {i}: truncated table (struct_size {vsize} < {vmin}, the minimum for \
                 ABI {major}.{minor})"
            ));
        }
        // SAFETY: struct_size (>= the minimum for its minor) bytes are readable; the table
        // type is valid when zeroed.
        let t = unsafe { read_table(vt, vsize) };
        // SAFETY: static strings (contract).
        let scheme = unsafe { read_str(t.scheme, &format!("transport {i} scheme")) }?;
        if scheme.is_empty() {
            return Err(format!("transport {i}: empty scheme"));
        }
        if !valid_scheme(&scheme) {
            return Err(format!("transport {i}: invalid scheme {scheme:?}"));
        }
        if transports.iter().any(|x| x.scheme == scheme) {
            return Err(format!("transport scheme {scheme:?} declared twice"));
        }
        let missing = [
            ("connect", t.connect.is_none()),
            ("list", t.list.is_none()),
            ("upload", t.upload.is_none()),
            ("delete", t.delete.is_none()),
            ("mkdir", t.mkdir.is_none()),
            ("rmdir", t.rmdir.is_none()),
            ("rename", t.rename.is_none()),
            ("close", t.close.is_none()),
        ];
        if let Some((f, _)) = missing.iter().find(|(_, m)| *m) {
            return Err(format!(
                "transport {scheme:?}: required function {f} is null"
            ));
        }
        // SAFETY: static strings and option array (contract).
        let description = unsafe { read_str(t.description, &format!("transport {scheme}")) }?;
        // SAFETY: as above.
        let options =
            unsafe { read_options(t.options, t.n_options, &format!("transport {scheme:?}")) }?;
        // SAFETY: a non-null caps pointer refers to a static table (contract).
        let caps =
            unsafe { declared_caps(&t) }.map_err(|e| format!("transport {scheme:?}: {e}"))?;
        let caps = effective_caps(&t, caps);
        let optional = [
            ("set_mtime", t.set_mtime.is_some()),
            ("get_mtime", t.get_mtime.is_some()),
            ("upload_stream", t.upload_stream.is_some()),
            ("mkdir_batch", t.mkdir_batch.is_some()),
        ]
        .iter()
        .filter(|(_, has)| *has)
        .map(|(n, _)| *n)
        .collect();
        transports.push(TransportInfo {
            scheme,
            description,
            default_port: u16::try_from(t.default_port).ok().filter(|p| *p != 0),
            flags: t.flags,
            caps,
            optional,
            options,
        });
    }
    let mut filters: Vec<FilterInfo> = Vec::new();
    for i in 0..d.n_filters {
        // SAFETY: non-null array of n_filters pointers (contract).
        let vf = unsafe { *d.filters.add(i) };
        if vf.is_null() {
            return Err(format!("filter {i}: null vtable"));
        }
        // SAFETY: non-null; struct_size is the first field.
        let vsize = unsafe { std::ptr::addr_of!((*vf).struct_size).read() };
        let vmin = min_filter_size(minor);
        if vsize < vmin {
            return Err(format!(
                "filter {i}: truncated table (struct_size {vsize} < {vmin}, the minimum for ABI \
                 {major}.{minor})"
            ));
        }
        // SAFETY: as for transports.
        let f = unsafe { read_table(vf, vsize) };
        // SAFETY: static strings (contract).
        let fname = unsafe { read_str(f.name, &format!("filter {i} name")) }?;
        if fname.is_empty() {
            return Err(format!("filter {i}: empty name"));
        }
        if !valid_name(&fname) {
            return Err(format!("filter {i}: invalid name {fname:?}"));
        }
        if filters.iter().any(|x| x.name == fname) {
            return Err(format!("filter {fname:?} declared twice"));
        }
        if f.create.is_none() || f.decide.is_none() || f.destroy.is_none() {
            return Err(format!(
                "filter {fname:?}: a required function (create, decide, destroy) is null"
            ));
        }
        // SAFETY: static strings and option array (contract).
        let description = unsafe { read_str(f.description, &format!("filter {fname}")) }?;
        // SAFETY: as above.
        let options =
            unsafe { read_options(f.options, f.n_options, &format!("filter {fname:?}")) }?;
        filters.push(FilterInfo {
            name: fname,
            description,
            options,
        });
    }
    if transports.is_empty() && filters.is_empty() {
        return Err("provides no transport and no filter".to_owned());
    }
    Ok(PluginInfo {
        name,
        version,
        abi_major: major,
        abi_minor: minor,
        built_with,
        transports,
        filters,
    })
}

/// What to tell the author of a plugin built for another major.
fn rebuild_advice() -> String {
    format!(
        "rebuild the plugin against this peex: C, with plugins/include/peex_plugin.h of ABI \
         {PEEX_ABI_MAJOR}.{PEEX_ABI_MINOR} (export {PEEX_PLUGIN_SYMBOL}); Rust, with this \
         version of peex-plugin-sdk"
    )
}

/// The refusal for a library that exports only the ABI 1.x entry point.
pub fn v1_refusal() -> String {
    format!(
        "built for plugin ABI 1.x (exports {PEEX_PLUGIN_SYMBOL_V1}, not {PEEX_PLUGIN_SYMBOL}); \
         this peex speaks ABI {PEEX_ABI_MAJOR}.{PEEX_ABI_MINOR}: {}",
        rebuild_advice()
    )
}

/// The declared capabilities of a vtable, or zeros when it declares none.
///
/// # Safety
/// `t.caps` must be null or point to a readable [`PeexCaps`] prefix of its `struct_size`.
#[allow(unsafe_code)]
unsafe fn declared_caps(t: &PeexTransportVTable) -> Result<PeexCaps, String> {
    if t.caps.is_null() {
        return Ok(PeexCaps::new(0, PEEX_RENAME_ATOMIC));
    }
    // SAFETY: non-null; struct_size is the first field.
    let size = unsafe { std::ptr::addr_of!((*t.caps).struct_size).read() };
    if size < MIN_CAPS_SIZE {
        return Err(format!(
            "truncated capabilities (struct_size {size} < {MIN_CAPS_SIZE})"
        ));
    }
    // SAFETY: size bytes are readable (contract), zeroed is valid.
    let mut c = unsafe { read_table(t.caps, size) };
    c.struct_size = std::mem::size_of::<PeexCaps>();
    Ok(c)
}

/// `caps` with the bits of optional slots the vtable leaves NULL cleared: a plugin cannot
/// claim what it lacks.
pub fn effective_caps(t: &PeexTransportVTable, mut caps: PeexCaps) -> PeexCaps {
    if t.set_mtime.is_none() {
        caps.flags &= !PEEX_CAP_SET_MTIME;
    }
    if t.get_mtime.is_none() {
        caps.flags &= !PEEX_CAP_GET_MTIME;
    }
    caps
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::mem::size_of;

    #[test]
    fn version_rule_is_same_major_any_minor() {
        assert!(check_version(PEEX_ABI_MAJOR, PEEX_ABI_MINOR).is_ok());
        assert!(check_version(PEEX_ABI_MAJOR, 0).is_ok());
        assert!(check_version(PEEX_ABI_MAJOR, PEEX_ABI_MINOR + 1).is_ok());
        let e = check_version(PEEX_ABI_MAJOR + 1, 0).unwrap_err();
        assert!(e.contains("major") && e.contains("upgrade peex"), "{e}");
        let e = check_version(1, 0).unwrap_err();
        assert!(e.contains("major") && e.contains("rebuild"), "{e}");
        assert!(v1_refusal().contains("peex_plugin.h") && v1_refusal().contains("1.x"));
    }

    #[test]
    fn a_2_0_transport_table_ends_before_mkdir_batch() {
        assert!(min_transport_size(0) < min_transport_size(1));
        assert_eq!(min_transport_size(1), size_of::<PeexTransportVTable>());
        assert_eq!(min_transport_size(7), size_of::<PeexTransportVTable>());
    }

    #[test]
    fn read_table_zeroes_what_an_older_plugin_lacks() {
        let mut caps = PeexCaps::new(PEEX_CAP_RENAME_DIRS, PEEX_RENAME_REMOVE_THEN_RENAME);
        caps.struct_size = 8;
        // SAFETY: caps is a full table; only its first 8 bytes are copied.
        #[allow(unsafe_code)]
        let c = unsafe { read_table(&caps, 8) };
        assert_eq!(c.struct_size, 8);
        assert_eq!(c.flags, 0);
        assert_eq!(c.rename_over, 0);
    }

    #[test]
    fn null_and_bad_names_are_refused() {
        // SAFETY: null is allowed by the contract.
        #[allow(unsafe_code)]
        let e = unsafe { check_descriptor(std::ptr::null()) }.unwrap_err();
        assert!(e.contains("null"));
        assert!(valid_scheme("webdav") && valid_scheme("s3+http") && !valid_scheme("Web"));
        assert!(!valid_scheme("") && !valid_scheme("1ftp") && !valid_scheme("a_b"));
    }
}
