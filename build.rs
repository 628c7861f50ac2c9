//! Compiles the Slint UI. Debug builds keep element ids and accessibility metadata so UI tests
//! can find elements (i-slint-backend-testing needs the compiler's debug info).

#[cfg(feature = "gui")]
fn main() {
    let debug = std::env::var("PROFILE")
        .map(|p| p != "release")
        .unwrap_or(true);
    let config = slint_build::CompilerConfiguration::new()
        .with_style("fluent-dark".into())
        .with_debug_info(debug);
    slint_build::compile_with_config("ui/app.slint", config).expect("ui/app.slint compiles");
}

#[cfg(not(feature = "gui"))]
fn main() {}
