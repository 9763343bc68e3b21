//! `--json`: the run's events as newline-delimited JSON on stdout, one object per line, each
//! with `"type"` and `"schema"` ([`SCHEMA_VERSION`]). The schema is documented in README.md
//! ("JSON events"); every event type is parsed back by the end-to-end tests.

use crate::events::{Event, Events, Operation, SCHEMA_VERSION};
use peex_core::EntryKind;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::sync::Mutex;

/// Writes events as JSON lines to a writer (stdout for `--json`).
pub struct JsonEvents {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonEvents {
    /// JSON lines on stdout.
    pub fn stdout() -> Self {
        JsonEvents::to(Box::new(std::io::stdout()))
    }

    /// JSON lines on `w`.
    pub fn to(w: Box<dyn Write + Send>) -> Self {
        JsonEvents { out: Mutex::new(w) }
    }

    fn write(&self, v: Value) {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A closed stdout (a consumer that went away) must not stop the run.
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    }
}

/// The name of an entry kind in JSON.
pub fn kind_name(k: EntryKind) -> &'static str {
    match k {
        EntryKind::File => "file",
        EntryKind::Dir => "dir",
        EntryKind::Other => "other",
    }
}

fn object(ty: &str, fields: Value) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(ty));
    m.insert("schema".into(), json!(SCHEMA_VERSION));
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    Value::Object(m)
}

/// The fields of an operation: `op`, `path`, `reason`, and `size`/`mtime` when known
/// (`remote_size`/`remote_mtime` when the reason carries them).
pub fn operation_fields(op: &Operation<'_>) -> Value {
    use crate::plan::UploadReason;
    let mut m = Map::new();
    m.insert("op".into(), json!(op.op.name()));
    m.insert("path".into(), json!(op.path.as_str()));
    m.insert("reason".into(), json!(op.reason.name()));
    if let Some(s) = op.size {
        m.insert("size".into(), json!(s));
    }
    if let Some(t) = op.mtime {
        m.insert("mtime".into(), json!(t));
    }
    match op.reason {
        crate::events::Reason::Upload(UploadReason::Size { remote }) => {
            m.insert("remote_size".into(), json!(remote));
        }
        crate::events::Reason::Upload(UploadReason::Mtime { remote }) => {
            m.insert("remote_mtime".into(), json!(remote));
        }
        _ => {}
    }
    Value::Object(m)
}

impl Events for JsonEvents {
    fn event(&self, e: &Event<'_>) {
        let v = match e {
            Event::Start {
                source,
                dest,
                jobs,
                dry_run,
            } => object(
                "start",
                json!({
                    "peex": env!("CARGO_PKG_VERSION"),
                    "source": source,
                    "dest": dest,
                    "jobs": jobs,
                    "dry_run": dry_run,
                }),
            ),
            Event::Planned(op) => object("plan", operation_fields(op)),
            Event::Done(op) => object("done", operation_fields(op)),
            Event::Kept { path, kind, why } => {
                let mut f = json!({"path": path.as_str(), "why": why.name()});
                if let (Some(k), Value::Object(m)) = (kind, &mut f) {
                    m.insert("kind".into(), json!(kind_name(*k)));
                }
                object("kept", f)
            }
            Event::Warning(m) => object("warning", json!({ "message": m })),
            Event::Error(m) => object("error", json!({ "message": m })),
            Event::Summary(s) => object(
                "summary",
                json!({
                    "dry_run": s.dry_run,
                    "files_new": s.files_new,
                    "files_updated": s.files_updated,
                    "dirs_created": s.dirs_created,
                    "files_removed": s.files_removed,
                    "dirs_removed": s.dirs_removed,
                    "protected": s.protected,
                    "ignored": s.ignored,
                    "unchanged": s.unchanged,
                    "times_set": s.times_set,
                    "links_skipped": s.links_skipped,
                    "special_skipped": s.special_skipped,
                    "errors_not_shown": s.errors_not_shown,
                    "bytes": s.bytes,
                    "errors": s.errors,
                    "seconds": (s.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
                }),
            ),
            Event::Stopped { status, message } => {
                object("stopped", json!({ "exit": status, "message": message }))
            }
            // For people only (or, for listings, for the plan recorder).
            Event::Listed { .. }
            | Event::Traverse(_)
            | Event::Detail { .. }
            | Event::Progress(_) => return,
        };
        self.write(v);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::events::{OpKind, Reason};
    use peex_core::RelPath;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_event_is_one_line_with_type_and_schema_and_control_characters_escaped() {
        let buf = Buf::default();
        let j = JsonEvents::to(Box::new(buf.clone()));
        let p = RelPath::parse("a\u{1b}b/c d").unwrap();
        j.event(&Event::Done(Operation::at(
            OpKind::Delete,
            &p,
            Reason::Gone,
        )));
        j.event(&Event::Warning("line one\nline two"));
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let v: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["type"], "done");
        assert_eq!(v["schema"], SCHEMA_VERSION);
        assert_eq!(v["path"], "a\u{1b}b/c d");
        assert!(!lines[0].contains('\u{1b}'));
        let w: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(w["message"], "line one\nline two");
    }
}
