//! Two builds of the same app from two folders, copied under different umasks at different
//! times, give byte-identical archives.

use watt_e2e::*;

#[test]
fn two_copies_in_different_folders_build_identical_archives() {
    let src = example("api");
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("first/app");
    let b = work.path().join("second/elsewhere/app");
    copy_tree(&src, &a, "022");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    copy_tree(&src, &b, "077");
    // Remove the build output copied from the source so each copy builds its own.
    for d in [&a, &b] {
        let _ = std::fs::remove_dir_all(d.join("web/catalog/dist"));
        let _ = std::fs::remove_dir_all(d.join(".watt"));
    }
    let out_a = work.path().join("a.tar.zst");
    let out_b = work.path().join("b.tar.zst");
    build_archive(&a, &out_a);
    build_archive(&b, &out_b);
    let (x, y) = (
        std::fs::read(&out_a).unwrap(),
        std::fs::read(&out_b).unwrap(),
    );
    assert!(
        x.len() > 1_000_000,
        "suspiciously small archive: {} bytes",
        x.len()
    );
    assert!(x == y, "archives differ: {} vs {} bytes", x.len(), y.len());
}
