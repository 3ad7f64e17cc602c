//! A GGUF file whose metadata holds one huge array: it is read at the file's own size (one byte
//! per u8 element, not a 32-byte value each) and refused quickly, with a measured memory bound.
//! Alone in its test binary so that the children's peak RSS (RUSAGE_CHILDREN) is this run's.

use std::io::Write;
use std::process::Command;

/// 64 Mi elements: the file is 64 MiB; it used to peak at 2.17 GB RSS and take 6.8 s.
const ELEMENTS: u64 = 64 << 20;
/// Peak RSS allowed: the mapped file, one copy of the array, the binary and its STREAM-free
/// start-up, with room to spare (the old representation needed 32x the array).
const MAX_RSS_BYTES: i64 = 400 << 20;

fn write_array_file(path: &std::path::Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"GGUF").unwrap();
    f.write_all(&3u32.to_le_bytes()).unwrap();
    f.write_all(&0u64.to_le_bytes()).unwrap(); // tensors
    f.write_all(&1u64.to_le_bytes()).unwrap(); // metadata entries
    let key = b"huge.array";
    f.write_all(&(key.len() as u64).to_le_bytes()).unwrap();
    f.write_all(key).unwrap();
    f.write_all(&9u32.to_le_bytes()).unwrap(); // array
    f.write_all(&0u32.to_le_bytes()).unwrap(); // of u8
    f.write_all(&ELEMENTS.to_le_bytes()).unwrap();
    let chunk = vec![7u8; 1 << 20];
    for _ in 0..ELEMENTS >> 20 {
        f.write_all(&chunk).unwrap();
    }
    f.flush().unwrap();
}

#[test]
fn a_huge_metadata_array_costs_its_own_size_not_thirty_times_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge-array.gguf");
    write_array_file(&path);
    let out = Command::new(env!("CARGO_BIN_EXE_perfd"))
        .args([
            "bench",
            "--model",
            path.to_str().unwrap(),
            "--bandwidth-mib",
            "48",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // Parsed (the array is valid), then refused as a model for what it lacks.
    assert!(
        err.contains("general.architecture") || err.contains("key"),
        "{err}"
    );
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    let peak = usage.max_rss() * 1024; // KiB on Linux
    assert!(
        peak < MAX_RSS_BYTES,
        "peak RSS {} MiB for a {} MiB array",
        peak >> 20,
        ELEMENTS >> 20
    );
}
