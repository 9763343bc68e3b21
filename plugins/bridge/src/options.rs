//! The option rule: a site or filter may give only the options its plugin declares; an
//! unknown one is refused, naming the closest declared name.

use peex_plugin_abi::OptionInfo;

/// The declared name closest to `name`, if any (the core's rule, so that plugins and
/// built-in transports suggest alike).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    peex_core::options::closest(name, candidates)
}

/// Checks the option names `given` against the `declared` options of `what` (`transport
/// "webdav"`, `filter "size"`): every name must be declared and every required option given.
/// `extra` names are accepted without a declaration (a filter's `source_root`).
pub fn check_options<'a>(
    what: &str,
    declared: &[OptionInfo],
    given: impl IntoIterator<Item = &'a str>,
    extra: &[&str],
) -> Result<(), String> {
    let given: Vec<&str> = given.into_iter().collect();
    for k in &given {
        if extra.contains(k) || declared.iter().any(|o| o.name == *k) {
            continue;
        }
        let names = || declared.iter().map(|o| o.name.as_str());
        let hint = match closest(k, names()) {
            Some(c) => format!("did you mean {c:?}?"),
            None if declared.is_empty() => "it declares no options".to_owned(),
            None => format!("known: {}", names().collect::<Vec<_>>().join(", ")),
        };
        return Err(format!("{what}: unknown option {k:?} ({hint})"));
    }
    for o in declared {
        if o.required && !given.contains(&o.name.as_str()) {
            return Err(format!("{what}: missing required option {:?}", o.name));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn opt(name: &str, required: bool) -> OptionInfo {
        OptionInfo {
            name: name.to_owned(),
            help: String::new(),
            required,
            secret: false,
        }
    }

    #[test]
    fn an_undeclared_option_is_refused_naming_the_closest_declared_one() {
        let d = [opt("tls", false), opt("max_bytes", true)];
        let e = check_options("t", &d, ["max_byte", "tsl"], &[]).unwrap_err();
        assert!(
            e.contains("\"max_byte\"") && e.contains("did you mean \"max_bytes\""),
            "{e}"
        );
        let e = check_options("t", &d, ["max_bytes", "zzzzzzzz"], &[]).unwrap_err();
        assert!(e.contains("known: tls, max_bytes"), "{e}");
        let e = check_options("t", &d, ["tls"], &[]).unwrap_err();
        assert!(e.contains("missing required option \"max_bytes\""), "{e}");
        assert!(check_options("t", &d, ["max_bytes", "source_root"], &["source_root"]).is_ok());
        let e = check_options("t", &[], ["x"], &[]).unwrap_err();
        assert!(e.contains("declares no options"), "{e}");
    }
}
