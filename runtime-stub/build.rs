//! Records what `watt-stub` is made of (version, git revision, linked crates) for
//! `watt-stub --version` and the SBOM of every artifact that carries it; see
//! `watt_manifest::build_info`.

fn main() {
    if let Err(e) = watt_manifest::build_info::collect() {
        panic!("{e}");
    }
}
