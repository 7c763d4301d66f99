//! Image references (`registry/repo:tag`), checked with the Docker reference grammar before any
//! build starts, so a typo in `--tag` fails in a second, not after the builds.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host (with port), `None` for a name with no registry part.
    pub registry: Option<String>,
    pub repository: String,
    pub tag: Option<String>,
}

impl Reference {
    /// The registry a push goes to (Docker's default for names without one).
    pub fn registry_or_default(&self) -> &str {
        self.registry.as_deref().unwrap_or("docker.io")
    }

    /// `[registry/]repository`
    pub fn name(&self) -> String {
        match &self.registry {
            Some(r) => format!("{r}/{}", self.repository),
            None => self.repository.clone(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("{s:?} is not a valid image reference ({why}); expected [REGISTRY/]NAME[:TAG], e.g. registry.example.com/team/app:1.2")
        };
        if s.len() > 255 {
            return Err(bad("longer than 255 characters"));
        }
        if s.contains('@') {
            return Err(bad(
                "digests cannot be given; the build computes the digest",
            ));
        }
        let (registry, rest) = match s.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first.to_string()), rest)
            }
            _ => (None, s),
        };
        if let Some(r) = &registry {
            let host_ok = r
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            let port_ok = match r.rsplit_once(':') {
                Some((host, port)) if !port.contains(']') => {
                    !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                }
                _ => true,
            };
            if !port_ok {
                return Err(bad("a registry port is a number"));
            }
            if !host_ok || r.starts_with(['.', '-', ':']) {
                return Err(bad("the registry host has invalid characters"));
            }
        }
        // A ':' after the last '/' starts the tag.
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.to_string())),
            _ => (rest, None),
        };
        if repository.is_empty() {
            return Err(bad("the name is empty"));
        }
        for part in repository.split('/') {
            let ok = !part.is_empty()
                && part.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
                && part.starts_with(|c: char| c.is_ascii_alphanumeric())
                && part.ends_with(|c: char| c.is_ascii_alphanumeric());
            if !ok {
                return Err(bad(
                    "name parts are lowercase letters, digits and . _ - between them",
                ));
            }
        }
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(bad(
                    "a tag is up to 128 letters, digits, _ . - and cannot start with . or -",
                ));
            }
        }
        Ok(Self {
            registry,
            repository: repository.to_string(),
            tag,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Reference;

    #[test]
    fn registries_names_and_tags() {
        let r: Reference = "127.0.0.1:5000/team/api:1.2".parse().unwrap();
        assert_eq!(r.registry.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(
            (r.repository.as_str(), r.tag.as_deref()),
            ("team/api", Some("1.2"))
        );
        let r: Reference = "api".parse().unwrap();
        assert_eq!((r.registry, r.tag), (None, None));
        assert_eq!(
            "localhost/api:x".parse::<Reference>().unwrap().to_string(),
            "localhost/api:x"
        );
    }

    #[test]
    fn bad_references_say_why() {
        for bad in [
            "Api:1",
            "api:-x",
            "api:",
            "/api",
            "api@sha256:00",
            "a b",
            "api:a/b",
        ] {
            let err = bad.parse::<Reference>().unwrap_err();
            assert!(err.contains("not a valid image reference"), "{bad}: {err}");
        }
    }
}
