//! The README's quick start as a new user meets it: a fresh clone in a temporary folder, an
//! empty Cargo home (so every crate the build needs is downloaded by Cargo itself, and a build
//! step that only works with a warm cache fails here), `ci/quickstart.sh` as the README gives
//! it; then the archive it wrote boots with no node on the host and answers.
//!
//! The clone is of the repository's committed HEAD: what CI checks out is what is tested.

use std::process::Command;
use std::time::Instant;

use watt_e2e::*;

#[test]
fn the_quick_start_works_on_a_fresh_clone_with_an_empty_cargo_home() {
    let work = tempfile::tempdir().unwrap();
    let clone = work.path().join("watt-pack");
    let o = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(repo())
        .arg(&clone)
        .output()
        .unwrap();
    assert!(o.status.success(), "git clone: {}", text(&o));
    let cargo_home = work.path().join("cargo-home");
    std::fs::create_dir(&cargo_home).unwrap();

    let started = Instant::now();
    let o = Command::new("bash")
        .arg("ci/quickstart.sh")
        .current_dir(&clone)
        .env("CARGO_HOME", &cargo_home)
        // A target folder of its own: the build scripts and every crate compile as on a new
        // machine, nothing reused from the suite's build.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("WATT_STUB")
        .env_remove("WATT_BIN")
        .output()
        .unwrap();
    eprintln!("ci/quickstart.sh took {:?}", started.elapsed());
    assert!(o.status.success(), "ci/quickstart.sh failed\n{}", text(&o));
    assert!(
        cargo_home.join("registry").is_dir(),
        "Cargo did not download into the empty CARGO_HOME: {}",
        cargo_home.display()
    );
    let archive = clone.join("api.tar.zst");
    assert!(archive.is_file(), "no api.tar.zst\n{}", text(&o));

    // The README's next step: extract it and start the stub, here with no node on PATH.
    let root = work.path().join("app");
    extract(&archive, &root);
    let (stub, base) = boot_extracted(&root, "/health");
    assert_api_summary(&base, &stub);
}
