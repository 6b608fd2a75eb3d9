//! Generates `include/tenantguard.h` with cbindgen and links the shared library with a SONAME.

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtenantguard.so.0");
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let config = match cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => {
            println!("cargo:warning=cbindgen.toml: {e}");
            std::process::exit(1);
        }
    };
    match cbindgen::generate_with_config(&dir, config) {
        // Written only when the content changes, so an unchanged header keeps its mtime.
        Ok(bindings) => {
            bindings.write_to_file(format!("{dir}/include/tenantguard.h"));
        }
        Err(e) => {
            println!("cargo:warning=cbindgen failed: {e}");
            std::process::exit(1);
        }
    }
}
