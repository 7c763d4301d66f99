//! Native addons (`*.node`) must load in the node the artifact carries, not only in the node
//! that installed them: npm compiles an addon for the node it ran with, and a prebuilt may be
//! for another OS or CPU. Node refuses such a file only when the service `require`s it, at
//! boot, with `ERR_DLOPEN_FAILED`; this check refuses it at build time instead.
//!
//! What Node checks (src/node_binding.cc, `DLOpen`): an addon that exports
//! `napi_register_module_v1` (or registers through `napi_module_register`) is N-API and loads
//! in any newer node. Any other addon must export `node_register_module_v<N>` with `N` the
//! loading node's `NODE_MODULE_VERSION` (`process.versions.modules`), else it is refused.
//! The ELF must also be for node's CPU, and every `GLIBC_2.x` (or `GLIBCXX_…`) version it
//! needs from a library the artifact ships must be defined by that shipped library, since the
//! artifact brings its own libc and libstdc++ (see [`crate::node_runtime`]).
//!
//! Packages often ship prebuilts for many platforms and ABIs and pick one at run time
//! (`prebuilds/linux-x64/…`, `bin/linux-x64-node-24/…`): within one package, the files that
//! do not fit are alternatives as long as one file fits. A package none of whose addons fit
//! fails the build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{bail, Result};
use object::elf;
use object::read::elf::{Dyn as _, FileHeader, SectionTable, Sym as _};
use object::Endianness;

use crate::layers::{Kind, Layer};
use crate::tree::{Entry, Source};

/// What an addon must match: the bundled node.
#[derive(Debug, Clone)]
pub struct Target {
    /// `process.arch`: `x64`, `arm64`, …
    pub arch: String,
    /// `process.versions.modules`.
    pub modules: u32,
    /// `process.version`, for messages.
    pub version: String,
    /// (file name, host file) of the libraries the artifact ships next to node.
    pub libraries: Vec<(String, PathBuf)>,
}

/// What one `*.node` file is, read from its headers.
#[derive(Debug, Default, PartialEq, Eq)]
struct Addon {
    /// ELF `e_machine`.
    machine: u16,
    is_64: bool,
    /// `N` of an exported `node_register_module_v<N>`.
    abi: Option<u32>,
    napi: bool,
    /// (library file, version name) from the version needs.
    needs: Vec<(String, String)>,
    /// `DT_NEEDED` libraries.
    libraries: Vec<String>,
}

/// Why a file would not load, or `None` when it would.
fn mismatch(bytes: &[u8], target: &Target, defined: &mut Definitions) -> Option<String> {
    let addon = match read(bytes) {
        Ok(a) => a,
        Err(why) => return Some(why),
    };
    let want = machine_of(&target.arch);
    if want != Some((addon.machine, addon.is_64)) {
        return Some(format!(
            "it is built for {}, the bundled node for {}",
            machine_name(addon.machine, addon.is_64),
            want.map_or(target.arch.clone(), |(m, b)| machine_name(m, b))
        ));
    }
    let musl = |l: &str| l.starts_with("libc.musl") || l.starts_with("ld-musl");
    let node_musl = target.libraries.iter().any(|(n, _)| musl(n));
    let node_glibc = target.libraries.iter().any(|(n, _)| n == "libc.so.6");
    if node_glibc && addon.libraries.iter().any(|l| musl(l)) {
        return Some("it is linked against musl libc, the bundled node against glibc".into());
    }
    if node_musl && addon.libraries.iter().any(|l| l == "libc.so.6") {
        return Some("it is linked against glibc, the bundled node against musl libc".into());
    }
    if !addon.napi {
        match addon.abi {
            Some(n) if n != target.modules => {
                return Some(format!(
                    "it is built for NODE_MODULE_VERSION {n}{}, the bundled node {} needs {}",
                    node_major(n).map_or(String::new(), |m| format!(" (Node {m})")),
                    target.version,
                    target.modules
                ))
            }
            _ => {}
        }
    }
    let mut missing: Vec<String> = Vec::new();
    for (file, version) in &addon.needs {
        if let Some(versions) = defined.of(file, &target.libraries) {
            if !versions.contains(version) {
                missing.push(format!("{version} from {file}"));
            }
        }
    }
    if !missing.is_empty() {
        return Some(format!(
            "it needs {}, which the libraries shipped with node (from the build machine's node) do not define",
            missing.join(", ")
        ));
    }
    None
}

/// Version names each shipped library defines, read once.
#[derive(Default)]
struct Definitions(BTreeMap<String, Option<BTreeSet<String>>>);

impl Definitions {
    /// `None` when the library does not ship (or cannot be read): nothing to compare with.
    fn of(&mut self, file: &str, libraries: &[(String, PathBuf)]) -> Option<&BTreeSet<String>> {
        self.0
            .entry(file.to_string())
            .or_insert_with(|| {
                let (_, host) = libraries.iter().find(|(n, _)| n == file)?;
                let bytes = std::fs::read(host).ok()?;
                verdefs(&bytes).ok()
            })
            .as_ref()
    }
}

fn machine_of(arch: &str) -> Option<(u16, bool)> {
    match arch {
        "x64" => Some((elf::EM_X86_64, true)),
        "arm64" => Some((elf::EM_AARCH64, true)),
        "ia32" => Some((elf::EM_386, false)),
        "arm" => Some((elf::EM_ARM, false)),
        _ => None,
    }
}

fn machine_name(machine: u16, is_64: bool) -> String {
    match (machine, is_64) {
        (elf::EM_X86_64, true) => "x86_64".into(),
        (elf::EM_AARCH64, true) => "aarch64".into(),
        (elf::EM_386, _) => "i386".into(),
        (elf::EM_ARM, _) => "32-bit arm".into(),
        (m, b) => format!("ELF machine {m} ({}-bit)", if b { 64 } else { 32 }),
    }
}

/// The Node major a `NODE_MODULE_VERSION` belongs to (node's doc/abi_version_registry.json).
fn node_major(abi: u32) -> Option<u32> {
    Some(match abi {
        64 => 10,
        72 => 12,
        83 => 14,
        93 => 16,
        108 => 18,
        115 => 20,
        120 => 21,
        127 => 22,
        131 => 23,
        137 => 24,
        141 => 25,
        _ => return None,
    })
}

fn read(bytes: &[u8]) -> Result<Addon, String> {
    match bytes {
        [0x7f, b'E', b'L', b'F', 2, ..] => {
            read_elf::<elf::FileHeader64<Endianness>>(bytes).map(|a| Addon { is_64: true, ..a })
        }
        [0x7f, b'E', b'L', b'F', 1, ..] => read_elf::<elf::FileHeader32<Endianness>>(bytes),
        [0xfe, 0xed, 0xfa, 0xce | 0xcf, ..]
        | [0xce | 0xcf, 0xfa, 0xed, 0xfe, ..]
        | [0xca, 0xfe, 0xba, 0xbe, ..] => {
            Err("it is a macOS (Mach-O) binary, not a Linux one".into())
        }
        [b'M', b'Z', ..] => Err("it is a Windows (PE) binary, not a Linux one".into()),
        _ => Err("it is not an ELF shared library".into()),
    }
}

fn read_elf<Elf: FileHeader<Endian = Endianness>>(bytes: &[u8]) -> Result<Addon, String> {
    let bad = |e: object::Error| format!("its ELF headers cannot be read ({e})");
    let header = Elf::parse(bytes).map_err(bad)?;
    let endian = header.endian().map_err(bad)?;
    let sections = header.sections(endian, bytes).map_err(bad)?;
    let mut addon = Addon {
        machine: header.e_machine(endian),
        ..Addon::default()
    };
    let symbols = sections
        .symbols(endian, bytes, elf::SHT_DYNSYM)
        .map_err(bad)?;
    for sym in symbols.iter() {
        let Ok(name) = sym.name(endian, symbols.strings()) else {
            continue;
        };
        let defined = sym.st_shndx(endian) != elf::SHN_UNDEF;
        if defined && name.starts_with(b"napi_register_module_v")
            || !defined && name == b"napi_module_register"
        {
            addon.napi = true;
        }
        if defined {
            if let Some(n) = name
                .strip_prefix(b"node_register_module_v")
                .and_then(|n| std::str::from_utf8(n).ok())
                .and_then(|n| n.parse().ok())
            {
                addon.abi = Some(n);
            }
        }
    }
    addon.needs = verneeds(&sections, endian, bytes).map_err(bad)?;
    if let Some((dyns, link)) = sections.dynamic(endian, bytes).map_err(bad)? {
        let strings = sections.strings(endian, bytes, link).map_err(bad)?;
        for d in dyns {
            if d.tag32(endian) == Some(elf::DT_NEEDED as i32) {
                if let Ok(name) = d.string(endian, strings) {
                    addon
                        .libraries
                        .push(String::from_utf8_lossy(name).into_owned());
                }
            }
        }
    }
    Ok(addon)
}

fn verneeds<Elf: FileHeader<Endian = Endianness>>(
    sections: &SectionTable<'_, Elf>,
    endian: Endianness,
    bytes: &[u8],
) -> object::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let Some((mut needs, link)) = sections.gnu_verneed(endian, bytes)? else {
        return Ok(out);
    };
    let strings = sections.strings(endian, bytes, link)?;
    while let Some((need, mut auxs)) = needs.next()? {
        let file = String::from_utf8_lossy(need.file(endian, strings)?).into_owned();
        while let Some(aux) = auxs.next()? {
            let name = String::from_utf8_lossy(aux.name(endian, strings)?).into_owned();
            out.push((file.clone(), name));
        }
    }
    Ok(out)
}

/// The version names a shared library defines (`GLIBC_2.34`, `GLIBCXX_3.4.30`, …).
fn verdefs(bytes: &[u8]) -> object::Result<BTreeSet<String>> {
    fn of<Elf: FileHeader<Endian = Endianness>>(bytes: &[u8]) -> object::Result<BTreeSet<String>> {
        let header = Elf::parse(bytes)?;
        let endian = header.endian()?;
        let sections = header.sections(endian, bytes)?;
        let mut out = BTreeSet::new();
        let Some((mut defs, link)) = sections.gnu_verdef(endian, bytes)? else {
            return Ok(out);
        };
        let strings = sections.strings(endian, bytes, link)?;
        while let Some((_, mut auxs)) = defs.next()? {
            // The first aux names the version; later ones its parents.
            if let Some(aux) = auxs.next()? {
                out.insert(String::from_utf8_lossy(aux.name(endian, strings)?).into_owned());
            }
        }
        Ok(out)
    }
    match bytes.get(4) {
        Some(1) => of::<elf::FileHeader32<Endianness>>(bytes),
        _ => of::<elf::FileHeader64<Endianness>>(bytes),
    }
}

/// The package folder a file belongs to: the path up to its last `node_modules/<name>`
/// (`node_modules/@scope/name`), else its folder.
fn package_of(path: &str) -> &str {
    let Some(i) = path.rfind("node_modules/") else {
        return path.rsplit_once('/').map_or("", |(d, _)| d);
    };
    let rest = &path[i + "node_modules/".len()..];
    let parts = if rest.starts_with('@') { 2 } else { 1 };
    let len: usize = rest
        .split('/')
        .take(parts)
        .map(|p| p.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    &path[..i + "node_modules/".len() + len]
}

/// Checks every `*.node` file of the layers (the artifact as it will be written) against
/// the bundled node. The error names each file that would not load, who ships it, why, and
/// how to rebuild it.
pub fn check(layers: &[Layer], target: &Target) -> Result<()> {
    // package folder → [(artifact path, owner, why not)]
    let mut packages: BTreeMap<String, Vec<(String, String, Option<String>)>> = BTreeMap::new();
    let mut defined = Definitions::default();
    let mut count = 0usize;
    for layer in layers.iter().filter(|l| l.kind != Kind::Runtime) {
        for (path, entry) in layer.tree.entries() {
            let Entry::File { source, .. } = entry else {
                continue;
            };
            if !path.ends_with(".node") {
                continue;
            }
            let bytes = match source {
                Source::Path(p) => match std::fs::read(p) {
                    Ok(b) => b,
                    Err(e) => bail!("cannot read the native addon {}: {e}", p.display()),
                },
                Source::Bytes(b) => b.to_vec(),
            };
            count += 1;
            let why = mismatch(&bytes, target, &mut defined);
            packages
                .entry(package_of(path).to_string())
                .or_default()
                .push((path.to_string(), layer.owner.clone(), why));
        }
    }
    let mut errors = Vec::new();
    for (package, files) in &packages {
        if files.iter().any(|(_, _, why)| why.is_none()) {
            continue;
        }
        let name = package
            .rfind("node_modules/")
            .map(|i| &package[i + "node_modules/".len()..]);
        let fix = match name {
            Some(n) => format!("run `npm rebuild {n}` with the node that will be bundled"),
            None => "rebuild it with the node that will be bundled".to_string(),
        };
        for (path, owner, why) in files {
            let why = why.as_deref().unwrap_or_default();
            errors.push(format!(
                "{path} (shipped by {owner}): {why}; {fix}, or pass --node PATH to bundle the node it was built for"
            ));
        }
    }
    if count > 0 {
        eprintln!(
            "watt: checked {count} native addon{} against node {} ({}, NODE_MODULE_VERSION {})",
            if count == 1 { "" } else { "s" },
            target.version,
            target.arch,
            target.modules
        );
    }
    if errors.is_empty() {
        return Ok(());
    }
    bail!(crate::verify::listed(
        &errors,
        "native addon",
        "would fail to load when the artifact starts (ERR_DLOPEN_FAILED)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    /// A shared object compiled by `cc` from `source` (ci/setup.sh installs gcc).
    fn compile(dir: &Path, name: &str, source: &str) -> Vec<u8> {
        let c = dir.join(format!("{name}.c"));
        std::fs::write(&c, source).unwrap();
        let out = dir.join(format!("{name}.node"));
        let o = Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&out)
            .arg(&c)
            .output()
            .expect("run cc (ci/setup.sh installs gcc)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(out).unwrap()
    }

    fn target() -> Target {
        Target {
            arch: "x64".into(),
            modules: 137,
            version: "v24.0.0".into(),
            libraries: Vec::new(),
        }
    }

    fn layer(files: &[(&str, &[u8])]) -> Layer {
        let mut l = Layer::new("dependencies-shared", Kind::Dependencies, "service \"api\"");
        for (p, b) in files {
            l.tree.add_bytes(p, b.to_vec(), false).unwrap();
        }
        l
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_abi_of_a_non_napi_addon_must_be_the_bundled_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let old = compile(
            dir.path(),
            "old",
            "void node_register_module_v115(void *e, void *m, void *c) {}\n",
        );
        let new = compile(
            dir.path(),
            "new",
            "void node_register_module_v137(void *e, void *m, void *c) {}\n",
        );
        let napi = compile(
            dir.path(),
            "napi",
            "void *napi_register_module_v1(void *env, void *exports) { return exports; }\n",
        );
        let t = target();
        let mut d = Definitions::default();
        assert_eq!(read(&old).unwrap().abi, Some(115));
        let why = mismatch(&old, &t, &mut d).unwrap();
        assert!(
            why.contains("NODE_MODULE_VERSION 115 (Node 20)") && why.contains("needs 137"),
            "{why}"
        );
        assert_eq!(mismatch(&new, &t, &mut d), None);
        assert!(read(&napi).unwrap().napi);
        assert_eq!(mismatch(&napi, &t, &mut d), None);

        let err = check(
            &[layer(&[(
                "app/node_modules/better-sqlite3/build/Release/better_sqlite3.node",
                &old,
            )])],
            &t,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("app/node_modules/better-sqlite3/build/Release/better_sqlite3.node"),
            "{err}"
        );
        assert!(err.contains("service \"api\""), "{err}");
        assert!(
            err.contains("`npm rebuild better-sqlite3`") && err.contains("--node PATH"),
            "{err}"
        );
        check(&[layer(&[("app/node_modules/x/a.node", &napi)])], &t).unwrap();
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn another_cpu_or_os_is_refused_unless_the_package_has_one_that_fits() {
        let dir = tempfile::tempdir().unwrap();
        let mut arm = compile(
            dir.path(),
            "a",
            "void *napi_register_module_v1(void *e, void *x) { return x; }\n",
        );
        // The same object, marked for aarch64 (e_machine at offset 18, little-endian).
        arm[18..20].copy_from_slice(&elf::EM_AARCH64.to_le_bytes());
        let mut d = Definitions::default();
        let why = mismatch(&arm, &target(), &mut d).unwrap();
        assert!(
            why.contains("built for aarch64, the bundled node for x86_64"),
            "{why}"
        );
        let macho = [0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1];
        assert!(mismatch(&macho, &target(), &mut d)
            .unwrap()
            .contains("Mach-O"));
        assert!(mismatch(b"MZ\x90\0", &target(), &mut d)
            .unwrap()
            .contains("Windows"));

        let fits = compile(
            dir.path(),
            "b",
            "void *napi_register_module_v1(void *e, void *x) { return x; }\n",
        );
        // prebuildify's layout: one prebuilt per platform, picked at run time.
        check(
            &[layer(&[
                (
                    "app/node_modules/@s/p/prebuilds/darwin-arm64/node.napi.node",
                    &macho,
                ),
                (
                    "app/node_modules/@s/p/prebuilds/linux-arm64/node.napi.node",
                    &arm,
                ),
                (
                    "app/node_modules/@s/p/prebuilds/linux-x64/node.napi.node",
                    &fits,
                ),
            ])],
            &target(),
        )
        .unwrap();
        let err = check(
            &[layer(&[(
                "app/node_modules/@s/p/prebuilds/linux-arm64/node.napi.node",
                &arm,
            )])],
            &target(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`npm rebuild @s/p`"), "{err}");
    }

    /// `cc` with `args`, in `dir`.
    fn cc(dir: &Path, args: &[&str]) {
        let o = Command::new("cc")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run cc");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    #[test]
    fn versions_the_shipped_library_does_not_define_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // One library in two releases, as glibc: the newer defines a version the older lacks.
        std::fs::write(
            d.join("v.c"),
            "void old_fn(void) {}\nvoid new_fn(void) {}\n",
        )
        .unwrap();
        std::fs::write(
            d.join("old.map"),
            "LIBV_1 { global: old_fn; new_fn; local: *; };\n",
        )
        .unwrap();
        std::fs::write(
            d.join("new.map"),
            "LIBV_1 { global: old_fn; local: *; };\nLIBV_2 { global: new_fn; } LIBV_1;\n",
        )
        .unwrap();
        std::fs::create_dir_all(d.join("old")).unwrap();
        std::fs::create_dir_all(d.join("new")).unwrap();
        for v in ["old", "new"] {
            cc(
                d,
                &[
                    "-shared",
                    "-fPIC",
                    "-Wl,-soname,libv.so.1",
                    &format!("-Wl,--version-script={v}.map"),
                    "-o",
                    &format!("{v}/libv.so.1"),
                    "v.c",
                ],
            );
        }
        assert!(verdefs(&std::fs::read(d.join("new/libv.so.1")).unwrap())
            .unwrap()
            .contains("LIBV_2"));
        assert!(!verdefs(&std::fs::read(d.join("old/libv.so.1")).unwrap())
            .unwrap()
            .contains("LIBV_2"));
        // An addon linked on a machine with the newer one, and against the real libc.
        std::fs::write(
            d.join("addon.c"),
            "#include <string.h>\nvoid new_fn(void);\nunsigned long napi_register_module_v1(const char *s) { new_fn(); return strlen(s); }\n",
        )
        .unwrap();
        cc(
            d,
            &[
                "-shared",
                "-fPIC",
                "-o",
                "addon.node",
                "addon.c",
                "new/libv.so.1",
            ],
        );
        let addon = std::fs::read(d.join("addon.node")).unwrap();
        let needs = read(&addon).unwrap().needs;
        assert!(
            needs.contains(&("libv.so.1".into(), "LIBV_2".into())),
            "{needs:?}"
        );
        assert!(
            needs
                .iter()
                .any(|(f, v)| f == "libc.so.6" && v.starts_with("GLIBC_2.")),
            "{needs:?}"
        );

        let mut t = target();
        t.arch = std::env::consts::ARCH
            .replace("x86_64", "x64")
            .replace("aarch64", "arm64");
        t.libraries = vec![("libv.so.1".into(), d.join("old/libv.so.1"))];
        let why = mismatch(&addon, &t, &mut Definitions::default()).unwrap();
        assert!(why.contains("LIBV_2 from libv.so.1"), "{why}");
        t.libraries = vec![("libv.so.1".into(), d.join("new/libv.so.1"))];
        assert_eq!(mismatch(&addon, &t, &mut Definitions::default()), None);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn an_addon_for_musl_is_refused_when_node_is_on_glibc() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // A stand-in for musl's libc, by its soname: what the addon records as DT_NEEDED.
        std::fs::write(d.join("m.c"), "void musl_fn(void) {}\n").unwrap();
        cc(
            d,
            &[
                "-shared",
                "-fPIC",
                "-nostdlib",
                "-Wl,-soname,libc.musl-x86_64.so.1",
                "-o",
                "libc.musl-x86_64.so.1",
                "m.c",
            ],
        );
        std::fs::write(d.join("a.c"), "void musl_fn(void);\nvoid *napi_register_module_v1(void *e, void *x) { musl_fn(); return x; }\n").unwrap();
        cc(
            d,
            &[
                "-shared",
                "-fPIC",
                "-nostdlib",
                "-o",
                "a.node",
                "a.c",
                "./libc.musl-x86_64.so.1",
            ],
        );
        let addon = std::fs::read(d.join("a.node")).unwrap();
        assert!(read(&addon)
            .unwrap()
            .libraries
            .iter()
            .any(|l| l == "libc.musl-x86_64.so.1"));
        let mut t = target();
        // Not read: only the names say which libc node uses.
        t.libraries = vec![("libc.so.6".into(), d.join("none"))];
        let why = mismatch(&addon, &t, &mut Definitions::default()).unwrap();
        assert!(why.contains("musl"), "{why}");
    }

    #[test]
    fn packages_are_found_by_their_last_node_modules() {
        assert_eq!(
            package_of("app/node_modules/a/node_modules/@s/b/build/x.node"),
            "app/node_modules/a/node_modules/@s/b"
        );
        assert_eq!(
            package_of("app/node_modules/a/x.node"),
            "app/node_modules/a"
        );
        assert_eq!(
            package_of("app/web/api/native/x.node"),
            "app/web/api/native"
        );
    }
}
