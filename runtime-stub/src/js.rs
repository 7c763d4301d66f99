//! The embedded JS (launcher, preload, request handler, capability, globals): used in place from the artifact's
//! `runtime/js/` when the packer shipped byte-identical copies there (a read-only root works),
//! else written to a private temporary folder removed at exit.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Where the packer ships the files, relative to the artifact root.
pub const SHIPPED_DIR: &str = "runtime/js";

const FILES: [(&str, &str); 5] = [
    ("launcher.cjs", include_str!("../js/launcher.cjs")),
    ("preload.cjs", include_str!("../js/preload.cjs")),
    // Loaded by the launcher for `requestHandler` services.
    (
        "request-handler.cjs",
        include_str!("../js/request-handler.cjs"),
    ),
    // Loaded by the launcher for `capability` services (Watt's own packages: db, gateway, …).
    ("capability.cjs", include_str!("../js/capability.cjs")),
    // Loaded by the launcher in every service: globalThis.platformatic.
    ("globals.cjs", include_str!("../js/globals.cjs")),
];

pub struct JsFiles {
    dir: PathBuf,
    _tmp: Option<TempDir>,
}

impl JsFiles {
    pub fn prepare(root: &Path) -> Result<JsFiles> {
        let shipped = root.join(SHIPPED_DIR);
        let same = FILES.iter().all(|(name, text)| {
            std::fs::read(shipped.join(name)).ok().as_deref() == Some(text.as_bytes())
        });
        if same {
            return Ok(JsFiles {
                dir: shipped,
                _tmp: None,
            });
        }
        let tmp = TempDir::new()?;
        for (name, text) in FILES {
            let path = tmp.0.join(name);
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(JsFiles {
            dir: tmp.0.clone(),
            _tmp: Some(tmp),
        })
    }

    pub fn launcher(&self) -> PathBuf {
        self.dir.join("launcher.cjs")
    }

    pub fn preload(&self) -> PathBuf {
        self.dir.join("preload.cjs")
    }

    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A private (0700) folder, removed when the stub exits.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let template = std::env::temp_dir().join("watt-stub.XXXXXX");
        let dir = nix::unistd::mkdtemp(&template).with_context(|| {
            format!(
                "cannot create a private folder like {}; set TMPDIR to a writable folder",
                template.display()
            )
        })?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_copies_are_used_only_when_identical() {
        let root = tempfile::tempdir().unwrap();
        let js = JsFiles::prepare(root.path()).unwrap();
        assert!(!js.dir().starts_with(root.path()));
        let tmp = js.dir().to_path_buf();
        assert!(js.launcher().is_file());
        drop(js);
        assert!(!tmp.exists(), "the private folder is removed");

        let shipped = root.path().join(SHIPPED_DIR);
        std::fs::create_dir_all(&shipped).unwrap();
        for (name, text) in FILES {
            std::fs::write(shipped.join(name), text).unwrap();
        }
        assert_eq!(JsFiles::prepare(root.path()).unwrap().dir(), shipped);
        std::fs::write(shipped.join("preload.cjs"), "// other version").unwrap();
        assert_ne!(JsFiles::prepare(root.path()).unwrap().dir(), shipped);
    }
}
