//! Compiles the eBPF call-steering program (`bpf/steer.bpf.c`) with clang into `OUT_DIR`.
//!
//! Without a working clang the build still succeeds: it warns and sets the cfg
//! `ferrosip_no_bpf`, and the engine runs in the fallback mode (workers hand messages to the
//! Call-ID owner themselves). Set `FERROSIP_REQUIRE_BPF=1` to make that a build error
//! instead, and `CLANG` to choose the compiler.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const SOURCE: &str = "bpf/steer.bpf.c";

fn main() {
    println!("cargo:rustc-check-cfg=cfg(ferrosip_no_bpf)");
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-env-changed=FERROSIP_REQUIRE_BPF");

    if let Err(why) = compile() {
        if env::var_os("FERROSIP_REQUIRE_BPF").is_some_and(|v| v != "0") {
            eprintln!("eBPF call steering could not be built: {why}");
            std::process::exit(1);
        }
        for line in why.lines() {
            println!("cargo:warning=eBPF call steering not built, fallback mode only: {line}");
        }
        println!("cargo:rustc-cfg=ferrosip_no_bpf");
    }
}

fn compile() -> Result<(), String> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR not set")?);
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR not set")?);
    let clang = env::var_os("CLANG").unwrap_or_else(|| "clang".into());
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
    // Debian/Ubuntu keep <asm/*.h> under the multiarch triplet.
    let multiarch = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "riscv64" => "riscv64-linux-gnu",
        "powerpc64" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "x86" => "i386-linux-gnu",
        other => other,
    };
    let object = out_dir.join("steer.bpf.o");
    let output = Command::new(&clang)
        .arg("-O2")
        .arg("-g")
        .args(["-target", "bpf"])
        .arg(format!("-I/usr/include/{multiarch}"))
        .arg("-Wall")
        .arg("-c")
        .arg(manifest_dir.join(SOURCE))
        .arg("-o")
        .arg(&object)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", clang.to_string_lossy()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed on {SOURCE}:\n{}",
            clang.to_string_lossy(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(())
}
