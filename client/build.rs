//! Links `ssoagent-cred` statically (a static-pie: no `INTERP`, no `NEEDED`) on Linux with glibc,
//! with a plain `cargo build`; the library and every other binary of the workspace stay dynamic.
//!
//! Why: `credential_process` starts the shim on every AWS call, and half of a dynamic shim's
//! cost over `cat` is the dynamic loader (measured 1.44× `cat` dynamic, 1.08× static). A static
//! shim also runs unchanged in any Linux container.
//!
//! How: `-C target-feature=+crt-static` cannot be given to one binary of a package with stable
//! cargo (rustflags are per build, and a global `+crt-static` breaks proc-macros). What it does
//! to the link can: rustc links std's system libraries with `-Wl,-Bdynamic -lgcc_s -lutil -lrt
//! -lpthread -lm -ldl -lc`; this script writes linker scripts of those names into `OUT_DIR`
//! that stand for the static archives (`libc.a`, `libgcc_eh.a`, ...; from libc6-dev and
//! libgcc-dev, which gcc brings) and puts that directory first on the search path (`-L` applies
//! to every `-l`, wherever it stands) of this one binary, linked with `-static-pie` — the same
//! objects and flags `+crt-static` gives.
//!
//! When an archive is missing, the shim is linked dynamically and cargo prints a warning.
//! `SSOAGENT_SHIM_LINK=dynamic` asks for the dynamic shim on purpose.

use std::{env, fs, path::PathBuf, process::Command};

/// The libraries rustc names for std on linux-gnu, and the archives that stand for each.
const LIBS: [(&str, &[&str]); 7] = [
    ("c", &["libc.a", "libgcc_eh.a", "libgcc.a"]),
    ("gcc_s", &["libgcc_eh.a", "libgcc.a"]),
    ("m", &["libm.a"]),
    ("dl", &["libdl.a"]),
    ("rt", &["librt.a"]),
    ("pthread", &["libpthread.a"]),
    ("util", &["libutil.a"]),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SSOAGENT_SHIM_LINK");
    let var = |k: &str| env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    if var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static")
    {
        return; // the whole build is static already
    }
    if var("SSOAGENT_SHIM_LINK") == "dynamic" {
        return;
    }
    match shadow_dir() {
        Ok(dir) => {
            println!("cargo:rustc-link-arg-bin=ssoagent-cred=-static-pie");
            println!("cargo:rustc-link-arg-bin=ssoagent-cred=-L{}", dir.display());
        }
        Err(why) => println!(
            "cargo:warning=ssoagent-cred is linked dynamically: {why} \
             (apt-get install libc6-dev libgcc-12-dev, or set SSOAGENT_SHIM_LINK=dynamic)"
        ),
    }
}

/// Writes the linker scripts; the directory holding them.
fn shadow_dir() -> Result<PathBuf, String> {
    let cc = env::var("RUSTC_LINKER")
        .ok()
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "cc".into());
    let dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?).join("static-libs");
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, archives) in LIBS {
        let mut paths = Vec::new();
        for a in archives {
            paths.push(archive(&cc, a)?);
        }
        let script = format!(
            "/* ssoagent-cred links statically: -l{name} stands for these archives */\n\
             GROUP ( {} )\n",
            paths.join(" ")
        );
        let file = dir.join(format!("lib{name}.so"));
        fs::write(&file, script).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(dir)
}

/// Where the C compiler finds `name` (`cc -print-file-name`), made absolute.
fn archive(cc: &str, name: &str) -> Result<String, String> {
    let out = Command::new(cc)
        .arg(format!("-print-file-name={name}"))
        .output()
        .map_err(|e| format!("cannot run {cc}: {e}"))?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // Not found: it echoes the bare name.
    if !out.status.success() || !path.starts_with('/') {
        return Err(format!("{cc} finds no {name}"));
    }
    let path = fs::canonicalize(&path).map_err(|e| format!("{path}: {e}"))?;
    let path = path.to_string_lossy().into_owned();
    if path.contains([' ', '(', ')', '"']) {
        return Err(format!(
            "{path} has a character a linker script cannot hold"
        ));
    }
    Ok(path)
}
