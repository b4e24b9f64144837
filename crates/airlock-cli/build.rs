//! Tells the tests what the build machine's kernel can enforce, so a test that needs a
//! newer kernel (or a font the host lacks) is reported as ignored with its reason rather
//! than passing silently.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(landlock_below_9)");
    println!("cargo::rustc-check-cfg=cfg(not_root)");
    println!("cargo::rustc-check-cfg=cfg(no_cjk_font)");
    println!("cargo::rustc-check-cfg=cfg(no_schemathesis)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=AIRLOCK_TEST_TOOLS");
    println!("cargo::rerun-if-changed=/proc/sys/kernel/osrelease");
    // Tests run as the user that builds them; most need root, as CI has.
    if !airlock_jail::doctor::is_root() {
        println!("cargo::rustc-cfg=not_root");
    }
    if airlock_jail::doctor::landlock_abi() < 9 {
        println!("cargo::rustc-cfg=landlock_below_9");
    }
    // Charts labelled in Chinese render only with a CJK font on the host, which airlock
    // binds into the sandbox; the test of that is ignored, with its reason, without one.
    let cjk_fonts = [
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    ];
    for font in cjk_fonts {
        println!("cargo::rerun-if-changed={font}");
    }
    if !cjk_fonts.iter().any(|f| std::path::Path::new(f).is_file()) {
        println!("cargo::rustc-cfg=no_cjk_font");
    }
    // The OpenAPI test drives schemathesis, which scripts/install-test-deps installs.
    let schemathesis = schemathesis_path();
    println!("cargo::rerun-if-changed={}", schemathesis.display());
    println!(
        "cargo::rustc-env=AIRLOCK_TEST_SCHEMATHESIS={}",
        schemathesis.display()
    );
    if !schemathesis.is_file() {
        println!("cargo::rustc-cfg=no_schemathesis");
    }
}

/// Where scripts/install-test-deps puts schemathesis's `st`.
fn schemathesis_path() -> std::path::PathBuf {
    let tools = std::env::var_os("AIRLOCK_TEST_TOOLS")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::PathBuf::from(h).join(".cache/airlock/test-tools"))
        })
        .unwrap_or_default();
    tools.join("schemathesis/bin/st")
}
