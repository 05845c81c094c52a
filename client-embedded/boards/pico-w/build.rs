//! Build script: puts `memory.x` on the linker's search path and turns the CYW43439 NVRAM
//! file named by `CYW43_NVRAM` into `$OUT_DIR/nvram.bin`, which `main.rs` includes.
//!
//! No crate ships the Pico W's NVRAM (its board configuration for the Wi-Fi chip), so the
//! build takes it from a file. Both forms are accepted:
//! - the text form, `nvram_rp2040.txt` from the embassy-rs/embassy repository
//!   (`cyw43-firmware/nvram_rp2040.txt`): one `key=value` per line; blank lines and `#`
//!   comments are skipped, and the lines are joined with NUL bytes;
//! - the binary form the driver takes (the same entries already NUL-joined, e.g.
//!   `cyw43-firmware/nvram_rp2040.bin` from the same repository).
//!
//! Either way each entry is checked to be printable `key=value` ASCII, and the result is what
//! embassy's own `write_nvrams` tool writes, padded with NULs to a multiple of 4 bytes.

use std::env;
use std::fs;
use std::path::PathBuf;

const HOW_TO_GET_IT: &str = "\
The Pico W's CYW43439 needs its NVRAM (board configuration) blob, which no crate ships.
Get `cyw43-firmware/nvram_rp2040.txt` (or `nvram_rp2040.bin`) from the embassy-rs/embassy
repository on GitHub and point CYW43_NVRAM at it (the text form is converted here), e.g.

    CYW43_NVRAM=/path/to/nvram_rp2040.txt cargo build --release

A relative path is taken from this crate's folder. See README.md, section \"Build\".";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    // memory.x for cortex-m-rt's link.x.
    let memory_x = manifest_dir.join("memory.x");
    fs::copy(&memory_x, out.join("memory.x")).expect("copy memory.x to OUT_DIR");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");

    // The NVRAM blob.
    println!("cargo:rerun-if-env-changed=CYW43_NVRAM");
    let Some(path) = env::var_os("CYW43_NVRAM").filter(|p| !p.is_empty()) else {
        fail("CYW43_NVRAM is not set.");
    };
    let path = manifest_dir.join(path); // an absolute path replaces the base
    println!("cargo:rerun-if-changed={}", path.display());
    let raw = match fs::read(&path) {
        Ok(raw) => raw,
        Err(e) => fail(&format!("CYW43_NVRAM={} cannot be read: {e}.", path.display())),
    };
    let nvram = match convert(&raw) {
        Ok(nvram) => nvram,
        Err(e) => fail(&format!("CYW43_NVRAM={}: {e}.", path.display())),
    };
    fs::write(out.join("nvram.bin"), &nvram).expect("write nvram.bin to OUT_DIR");
}

/// Stops the build with `problem` and how to get the file.
fn fail(problem: &str) -> ! {
    eprintln!("error: {problem}\n\n{HOW_TO_GET_IT}");
    std::process::exit(1);
}

/// The NVRAM as the driver takes it and as embassy's `write_nvrams` writes it: `key=value`
/// entries, each NUL-terminated, two more NULs at the end; then padded with NULs to a multiple
/// of 4 bytes.
fn convert(raw: &[u8]) -> Result<Vec<u8>, String> {
    let text = raw.contains(&b'\n') && !raw.contains(&0);
    let mut entries: Vec<&[u8]> = Vec::new();
    let separator = if text { b'\n' } else { 0 };
    for entry in raw.split(|&b| b == separator) {
        // As embassy's `write_nvrams`: a `#` starts a comment, to the end of the line.
        let entry = match entry.iter().position(|&b| b == b'#') {
            Some(hash) => &entry[..hash],
            None => entry,
        };
        let entry = entry.trim_ascii();
        if entry.is_empty() {
            continue;
        }
        if !entry.contains(&b'=') || !entry.is_ascii() || entry.iter().any(u8::is_ascii_control) {
            return Err(format!(
                "`{}` is not a key=value NVRAM entry (is this the right file?)",
                String::from_utf8_lossy(&entry[..entry.len().min(40)])
            ));
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err("the file holds no key=value entries".into());
    }
    let mut nvram = Vec::with_capacity(raw.len() + 8);
    for entry in entries {
        nvram.extend_from_slice(entry);
        nvram.push(0);
    }
    nvram.extend_from_slice(&[0, 0]);
    while nvram.len() % 4 != 0 {
        nvram.push(0);
    }
    Ok(nvram)
}
