//! The Debian package a shipped shared library belongs to, so the SBOM names it the way
//! vulnerability scanners (grype, trivy) look it up: a `pkg:deb` purl with the installed version
//! (`pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&distro=bookworm`), not only a file name
//! and a hash. Asked of `dpkg-query` on the build host, which is where the library was copied
//! from. A host without dpkg, or a library no package owns (one built by hand), keeps the
//! file-only entry: its hash still identifies it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

/// The host's distribution, as `/etc/os-release` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Distro {
    /// `ID`: the purl namespace (`debian`, `ubuntu`).
    pub id: String,
    /// `VERSION_CODENAME` (`bookworm`), a purl qualifier when known.
    pub codename: Option<String>,
}

impl Distro {
    pub(crate) fn of_host() -> Option<Distro> {
        parse_os_release(&std::fs::read_to_string("/etc/os-release").ok()?)
    }
}

/// An installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Package {
    pub name: String,
    pub version: String,
    pub arch: String,
}

impl Package {
    pub(crate) fn purl(&self, distro: &Distro) -> String {
        let mut purl = format!(
            "pkg:deb/{}/{}@{}?arch={}",
            super::purl_encode(&distro.id),
            super::purl_encode(&self.name),
            super::purl_encode(&self.version),
            super::purl_encode(&self.arch)
        );
        if let Some(c) = &distro.codename {
            purl.push_str(&format!("&distro={}", super::purl_encode(c)));
        }
        purl
    }
}

/// Looks libraries up, asking dpkg once per file and once per package.
#[derive(Default)]
pub(crate) struct Owners {
    packages: BTreeMap<String, Option<Package>>,
}

impl Owners {
    /// The package owning `path`, a real file. On a merged-/usr host (`/lib` a link to
    /// `/usr/lib`) dpkg records the path the package installed, often `/lib/…`
    /// (`libc6`: `/lib/x86_64-linux-gnu/libc.so.6`, really `/usr/lib/…`): that one is asked too.
    pub(crate) fn of(&mut self, path: &Path) -> Option<Package> {
        let unmerged = path
            .strip_prefix("/usr")
            .ok()
            .map(|p| Path::new("/").join(p));
        let owner = owner(path).or_else(|| unmerged.as_deref().and_then(owner))?;
        self.packages
            .entry(owner.clone())
            .or_insert_with(|| installed(&owner))
            .clone()
    }
}

fn dpkg_query(args: &[&str]) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn owner(path: &Path) -> Option<String> {
    parse_search(&dpkg_query(&["-S", "--", path.to_str()?])?)
}

fn installed(package: &str) -> Option<Package> {
    let fields = "${Package}\t${Version}\t${Architecture}\n";
    parse_show(&dpkg_query(&["-W", "-f", fields, "--", package])?)
}

/// `dpkg-query -S` output: `libc6:amd64: /lib/…` (`a, b: /path` when several packages hold
/// the path; `diversion by …` lines first when one is diverted): the first owner.
fn parse_search(out: &str) -> Option<String> {
    out.lines()
        .filter(|l| !l.starts_with("diversion "))
        .find_map(|l| l.split_once(": "))
        .and_then(|(owners, _)| owners.split(", ").next())
        .map(str::to_owned)
}

fn parse_show(out: &str) -> Option<Package> {
    let mut fields = out.lines().next()?.split('\t');
    let (name, version, arch) = (fields.next()?, fields.next()?, fields.next()?);
    (!name.is_empty() && !version.is_empty()).then(|| Package {
        name: name.to_owned(),
        version: version.to_owned(),
        arch: arch.to_owned(),
    })
}

fn parse_os_release(text: &str) -> Option<Distro> {
    let mut id = None;
    let mut codename = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        match key.trim() {
            "ID" if !value.is_empty() => id = Some(value.to_ascii_lowercase()),
            "VERSION_CODENAME" if !value.is_empty() => codename = Some(value.to_owned()),
            _ => {}
        }
    }
    Some(Distro { id: id?, codename })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_debian_library_gets_the_purl_scanners_match() {
        let distro = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_CODENAME=bookworm\n",
        )
        .unwrap();
        let libc = parse_show("libc6\t2.36-9+deb12u10\tamd64\n").unwrap();
        assert_eq!(
            libc.purl(&distro),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&distro=bookworm"
        );
        // An epoch's colon is encoded too; no codename, no distro qualifier.
        let ubuntu = parse_os_release("ID=\"ubuntu\"\n").unwrap();
        let gcc = parse_show("libgcc-s1\t1:12.2.0-14\tamd64").unwrap();
        assert_eq!(
            gcc.purl(&ubuntu),
            "pkg:deb/ubuntu/libgcc-s1@1%3A12.2.0-14?arch=amd64"
        );
    }

    #[test]
    fn dpkg_search_output_names_the_first_owner() {
        assert_eq!(
            parse_search("libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6\n").as_deref(),
            Some("libc6:amd64")
        );
        assert_eq!(
            parse_search("diversion by x from: /a\ndiversion by x to: /a.real\nx, y: /a\n")
                .as_deref(),
            Some("x")
        );
        assert_eq!(parse_search(""), None);
        assert_eq!(parse_show("\t\t\n"), None);
        assert_eq!(parse_os_release("NAME=x\n"), None);
    }
}
