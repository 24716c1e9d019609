//! The committed header must be exactly what the pinned cbindgen generates from this
//! crate. Regenerate it with:
//!
//!     CANNONADE_BLESS=1 cargo test -p cannonade-capi --test header

use std::path::PathBuf;

#[test]
fn committed_header_matches_generated() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = crate_dir.join("../..");
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("header is UTF-8");
    let path = root.join("python/cannonade/cannonade.h");
    if std::env::var_os("CANNONADE_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write header");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "python/cannonade/cannonade.h differs from what cbindgen generates from rust/capi;\n\
         regenerate it with: CANNONADE_BLESS=1 cargo test -p cannonade-capi --test header\n\
         --- generated ---\n{generated}"
    );
}
