//! Tells the tests what the build machine's kernel can enforce, so a test that needs a
//! newer kernel is reported as ignored with its reason rather than passing silently.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(landlock_below_9)");
    println!("cargo::rustc-check-cfg=cfg(not_root)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=/proc/sys/kernel/osrelease");
    // Tests run as the user that builds them; most need root, as CI has.
    if !airlock_jail::doctor::is_root() {
        println!("cargo::rustc-cfg=not_root");
    }
    if airlock_jail::doctor::landlock_abi() < 9 {
        println!("cargo::rustc-cfg=landlock_below_9");
    }
}
