//! Records what `watt` is made of (version, git revision, linked crates) for `watt --version`
//! and the release's SBOM; see `watt_manifest::build_info`.

fn main() {
    if let Err(e) = watt_manifest::build_info::collect() {
        panic!("{e}");
    }
}
