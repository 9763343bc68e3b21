//! The `RemoteFs` conformance suite against the `local` transport (the reference backend).
#![allow(clippy::unwrap_used)]

use peex_core::{SiteParams, Transport};

#[test]
fn local_transport_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let site = SiteParams {
        root: root.display().to_string(),
        ..SiteParams::default()
    };
    peex_tests::conformance::run_all(
        &|| peex_local::LocalTransport.connect(&site).unwrap(),
        &|rel| std::fs::read(root.join(rel)).ok(),
    );
}
