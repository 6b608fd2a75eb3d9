//! Links the addon against Node-API symbols provided by the host process.
fn main() {
    napi_build::setup();
}
