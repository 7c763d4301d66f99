//! The licence texts of the crates linked into the binaries, and the index that lists them.
//!
//! A crate's texts are the notice files it ships (LICENSE*, COPYING*, NOTICE*, …, found in
//! the folder Cargo unpacked it to), copied as they are: they carry the copyright lines the
//! licences ask to keep, which no standard text has. Only a crate that ships none gets the
//! standard texts of its licence expression.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use crate::cargo::Package;

/// Where a crate's licence texts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Texts {
    /// A crate of this workspace: the workspace licence, `LICENSE` at the tarball's root.
    Workspace,
    /// The notice files the crate ships: (path in its folder, content).
    Shipped(Vec<(String, Vec<u8>)>),
    /// The standard texts of its licence expression (`<SPDX id>.txt`): it ships none.
    Standard(Vec<(String, Vec<u8>)>),
}

impl Texts {
    pub fn files(&self) -> &[(String, Vec<u8>)] {
        match self {
            Texts::Workspace => &[],
            Texts::Shipped(f) | Texts::Standard(f) => f,
        }
    }
}

/// File name starts (case-insensitive) of the notices a licence asks to pass on.
const NOTICE_NAMES: &[&str] = &[
    "LICENSE",
    "LICENCE",
    "COPYING",
    "NOTICE",
    "UNLICENSE",
    "AUTHORS",
    "COPYRIGHT",
    "CONTRIBUTORS",
];

fn is_notice(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    // `license.rs` and the like are code that happens to be named so, not a notice.
    NOTICE_NAMES.iter().any(|n| upper.starts_with(n)) && !upper.ends_with(".RS")
}

/// A crate's texts: the workspace's, the ones it ships, else the standard ones of `license`.
pub fn texts(pkg: &Package, is_member: bool, license: Option<&str>) -> Result<Texts> {
    if is_member {
        return Ok(Texts::Workspace);
    }
    let shipped = shipped(pkg)?;
    if !shipped.is_empty() {
        return Ok(Texts::Shipped(shipped));
    }
    let Some(license) = license else {
        bail!(
            "crate {} {} ships no licence file and declares no licence (in {})",
            pkg.name,
            pkg.version,
            pkg.dir().display()
        );
    };
    standard(license)
        .map(Texts::Standard)
        .with_context(|| format!("crate {} {} ships no licence file", pkg.name, pkg.version))
}

/// The non-empty notice files at the top of the crate's folder, the files of a REUSE-style
/// `LICENSES/` folder, and its `license-file`.
fn shipped(pkg: &Package) -> Result<Vec<(String, Vec<u8>)>> {
    let dir = pkg.dir();
    let mut files = BTreeMap::new();
    for name in sorted_names(dir)? {
        if !is_notice(&name) {
            continue;
        }
        let path = dir.join(&name);
        // Followed: a link to the licence is the licence.
        let meta =
            fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_file() {
            files.insert(name, read(&path)?);
        } else if meta.is_dir() {
            for inner in sorted_names(&path)? {
                let p = path.join(&inner);
                if p.is_file() {
                    files.insert(format!("{name}/{inner}"), read(&p)?);
                }
            }
        }
    }
    if let Some(lf) = &pkg.license_file {
        let path = dir.join(lf);
        let rel = path
            .strip_prefix(dir)
            .ok()
            .and_then(|r| r.to_str())
            .map(str::to_string)
            .or_else(|| path.file_name()?.to_str().map(str::to_string));
        if let Some(rel) = rel {
            if !files.contains_key(&rel) && path.is_file() {
                files.insert(rel, read(&path)?);
            }
        }
    }
    // An empty file says nothing; a crate with only such files gets the standard texts.
    files.retain(|_, bytes| !bytes.iter().all(u8::is_ascii_whitespace));
    Ok(files.into_iter().collect())
}

fn sorted_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        // Notice file names are ASCII; anything else is not one.
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `<id>.txt` for each licence and exception of an SPDX expression (Cargo's old `MIT/Apache-2.0`
/// too), from the SPDX licence list the `spdx` crate carries.
pub fn standard(license: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let expr = spdx::Expression::parse_mode(license, spdx::ParseMode::LAX)
        .map_err(|e| anyhow!("its licence {license:?} is not an SPDX expression: {e}"))?;
    let mut out = BTreeMap::new();
    for r in expr.requirements() {
        match &r.req.license {
            spdx::LicenseItem::Spdx { id, .. } => {
                out.insert(format!("{}.txt", id.name), id.text().as_bytes().to_vec());
            }
            other => bail!("its licence {other} has no standard text"),
        }
        match r.req.addition.as_ref().map(|a| (a.id(), a)) {
            None => {}
            Some((Some(e), _)) => {
                out.insert(format!("{}.txt", e.name), e.text().as_bytes().to_vec());
            }
            Some((None, other)) => bail!("its licence exception {other} has no standard text"),
        }
    }
    Ok(out.into_iter().collect())
}

/// One row of the index.
pub struct Row<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub license: Option<&'a str>,
    pub binaries: &'a BTreeSet<String>,
    pub texts: &'a Texts,
}

/// The folder of a crate's texts in the tarball, below the top folder.
pub fn folder(name: &str, version: &str) -> String {
    format!("licenses/{name}-{version}")
}

/// `THIRD-PARTY-LICENSES.md`: every crate, its licence, the binaries it is in, its texts.
pub fn index(rows: &[Row<'_>]) -> String {
    let mut md = String::from(
        "# Third-party licences\n\
         \n\
         `watt` and `watt-stub` are licensed under the Apache License 2.0 (`LICENSE`). They are \
         built from the Rust crates below. Each crate's licence texts are in \
         `licenses/<crate>-<version>/`: the files the crate ships, or, marked *standard text*, \
         the SPDX licence list's text of its licence expression when it ships none. The \
         crates of this workspace are under `LICENSE`.\n\
         \n\
         | crate | version | licence | in | texts |\n\
         |---|---|---|---|---|\n",
    );
    for r in rows {
        let bins: Vec<_> = r.binaries.iter().map(|b| format!("`{b}`")).collect();
        let texts = match r.texts {
            Texts::Workspace => "`LICENSE`".to_string(),
            Texts::Shipped(f) | Texts::Standard(f) => {
                let names: Vec<_> = f.iter().map(|(n, _)| n.as_str()).collect();
                let standard = if matches!(r.texts, Texts::Standard(_)) {
                    " *standard text*"
                } else {
                    ""
                };
                format!(
                    "`{}/`: {}{standard}",
                    folder(r.name, r.version),
                    names.join(", ")
                )
            }
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.name,
            r.version,
            cell(r.license.unwrap_or("(none declared)")),
            bins.join(", "),
            cell(&texts)
        ));
    }
    md
}

/// A table cell: a `|` would end it.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn package(dir: &Path, license_file: Option<&str>) -> Package {
        Package {
            id: "x".into(),
            name: "demo".into(),
            version: "1.0.0".into(),
            source: Some("registry+https://github.com/rust-lang/crates.io-index".into()),
            manifest_path: dir.join("Cargo.toml"),
            license_file: license_file.map(PathBuf::from),
        }
    }

    #[test]
    fn shipped_notices_are_taken_as_they_are_and_empty_ones_dropped() {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, s: &str| {
            let p = d.path().join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, s).unwrap();
        };
        w("LICENSE-MIT", "Copyright (c) someone\n");
        w("COPYING", "see LICENSE-MIT\n");
        w("license.rs", "fn main() {}\n");
        w("NOTICE", "\n");
        w("LICENSES/Apache-2.0.txt", "Apache\n");
        w("legal/terms.txt", "terms\n");
        w("README.md", "readme\n");
        let t = texts(
            &package(d.path(), Some("legal/terms.txt")),
            false,
            Some("MIT"),
        )
        .unwrap();
        let names: Vec<_> = t.files().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "COPYING",
                "LICENSE-MIT",
                "LICENSES/Apache-2.0.txt",
                "legal/terms.txt"
            ]
        );
        assert!(matches!(t, Texts::Shipped(_)));
    }

    #[test]
    fn a_crate_without_notices_gets_the_standard_texts() {
        let d = tempfile::tempdir().unwrap();
        let t = texts(
            &package(d.path(), None),
            false,
            Some("MIT/Apache-2.0 WITH LLVM-exception"),
        )
        .unwrap();
        let Texts::Standard(files) = &t else {
            panic!("{t:?}")
        };
        let names: Vec<_> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Apache-2.0.txt", "LLVM-exception.txt", "MIT.txt"]);
        assert!(files.iter().all(|(_, b)| b.len() > 100));
        let err = texts(&package(d.path(), None), false, None).unwrap_err();
        assert!(format!("{err:#}").contains("no licence file"), "{err:#}");
        let err = texts(&package(d.path(), None), false, Some("LicenseRef-Mine")).unwrap_err();
        assert!(format!("{err:#}").contains("no standard text"), "{err:#}");
    }

    #[test]
    fn the_index_says_where_each_crates_texts_are() {
        let bins = BTreeSet::from(["watt".to_string(), "watt-stub".to_string()]);
        let shipped = Texts::Shipped(vec![("LICENSE".into(), b"x".to_vec())]);
        let md = index(&[
            Row {
                name: "a",
                version: "1.0.0",
                license: Some("MIT"),
                binaries: &bins,
                texts: &shipped,
            },
            Row {
                name: "watt-manifest",
                version: "0.1.0",
                license: Some("Apache-2.0"),
                binaries: &bins,
                texts: &Texts::Workspace,
            },
        ]);
        assert!(md.contains(
            "| a | 1.0.0 | MIT | `watt`, `watt-stub` | `licenses/a-1.0.0/`: LICENSE |\n"
        ));
        assert!(md.contains(
            "| watt-manifest | 0.1.0 | Apache-2.0 | `watt`, `watt-stub` | `LICENSE` |\n"
        ));
    }
}
