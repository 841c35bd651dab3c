//! `include/gcdn.h` must be exactly what the pinned cbindgen makes of `src/ffi.rs`.
//! `GCDN_UPDATE_HEADER=1 cargo test --test header` (or `make header`) rewrites it.

use std::path::Path;

#[test]
fn checked_in_header_matches_the_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi.rs"))
        .generate()
        .expect("cbindgen could not read src/ffi.rs")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");
    let path = root.join("include/gcdn.h");
    if std::env::var_os("GCDN_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/gcdn.h");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/gcdn.h is stale: run `make header` and commit the result"
    );
}
