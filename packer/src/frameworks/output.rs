//! Helpers shared by the frameworks that build into an output folder (Astro, Vite, React Router,
//! Remix): running the app's own CLI, finding the output, and the URL prefix it is served at.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::{configured_build, normalize_prefix, BuildCommand};
use crate::config::ResolvedService;

/// `application.commands.build`, else the framework's own CLI from the app's `node_modules/.bin`
/// (found the way npm finds it: in the service folder, then each parent), run as
/// `<bin> <args…>` in the service folder.
pub fn build_or_cli(svc: &ResolvedService, bin: &str, args: &[String]) -> Result<BuildCommand> {
    if let Some(cmd) = configured_build(svc) {
        return Ok(cmd);
    }
    let Some(exe) = find_bin(&svc.path, bin) else {
        bail!(
            "service \"{}\" is a {} application but `{bin}` is not installed \
             (no node_modules/.bin/{bin} in {} or its parents); install the app's dependencies \
             (`npm install`), or set application.commands.build",
            svc.id,
            svc.kind,
            svc.path.display()
        );
    };
    let mut argv = vec![exe.to_string_lossy().into_owned()];
    argv.extend(args.iter().cloned());
    Ok(BuildCommand {
        display: command_line(bin, args),
        argv,
        env: Vec::new(),
    })
}

/// `<bin> <args…>` as the build's progress line shows it, each argument shell-quoted.
pub fn command_line(bin: &str, args: &[String]) -> String {
    std::iter::once(bin.to_string())
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `node_modules/.bin/<bin>` in `from` or the nearest parent that has it.
pub fn find_bin(from: &Path, bin: &str) -> Option<PathBuf> {
    from.ancestors()
        .map(|dir| dir.join("node_modules/.bin").join(bin))
        .find(|p| p.exists())
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `application.basePath` as a clean prefix: `/shop` (one leading slash, no trailing one), or
/// `None` for none / the root.
pub fn base_path(svc: &ResolvedService) -> Option<String> {
    let base = normalize_prefix(svc.application.base_path.as_deref()?);
    (!base.is_empty()).then_some(base)
}

/// The URL prefix client files are mounted at: the base path, else `/`.
pub fn url_prefix(svc: &ResolvedService) -> String {
    base_path(svc).unwrap_or_else(|| "/".into())
}

/// The base path as the frameworks' CLIs take it (`--base /shop/`), as Watt passes it.
pub fn base_flag(svc: &ResolvedService) -> Option<String> {
    base_path(svc).map(|b| format!("{b}/"))
}

/// The output folder, which must exist after the build.
pub fn output_dir(svc: &ResolvedService, rel: &str, tool: &str, setting: &str) -> Result<PathBuf> {
    let dir = svc.path.join(rel);
    if !dir.is_dir() {
        bail!(
            "service \"{}\": no build output at {rel}/ ({}): did `{tool}` write elsewhere? \
             set {setting} in the service's watt.json to the folder it builds into",
            svc.id,
            dir.display()
        );
    }
    Ok(dir)
}

/// The service's package.json, when it has one (Node reads `"type"` from it to load the build).
pub fn package_json(svc: &ResolvedService) -> Option<PathBuf> {
    let p = svc.path.join("package.json");
    p.is_file().then_some(p)
}

#[cfg(test)]
pub mod testing {
    //! A fake service in a temp folder, for the frameworks' output-detection tests.

    use std::path::Path;

    use crate::config::{
        ApplicationBlock, Detection, Kind, NodeBlock, ResolvedApp, ResolvedService,
    };

    pub fn service(dir: &Path, kind: Kind) -> ResolvedService {
        ResolvedService {
            id: "web".into(),
            path: dir.to_path_buf(),
            config_file: None,
            config: serde_json::Value::Null,
            package_json: serde_json::json!({ "name": "web", "type": "module" }),
            kind,
            detected_by: Detection::JsFiles,
            dependencies: Vec::new(),
            env: Default::default(),
            dotenv: Default::default(),
            node_options: None,
            preload: Vec::new(),
            application: ApplicationBlock::default(),
            node: NodeBlock::default(),
        }
    }

    pub fn app(svc: &ResolvedService) -> ResolvedApp {
        ResolvedApp {
            config_file: svc.path.join("watt.json"),
            root: svc.path.clone(),
            name: "t".into(),
            entrypoint: svc.id.clone(),
            entrypoint_reason: crate::config::EntrypointReason::Explicit,
            server: Default::default(),
            graceful_shutdown: Default::default(),
            supervision: Default::default(),
            dotenv: Default::default(),
            services: vec![svc.clone()],
            warnings: Vec::new(),
        }
    }

    /// Create `rel` (and its parents) under `dir` with some content.
    pub fn touch(dir: &Path, rel: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("// {rel}\n")).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::config::Kind;

    #[test]
    fn base_paths_are_normalised() {
        let dir = tempfile::tempdir().unwrap();
        let mut svc = service(dir.path(), Kind::Vite);
        assert_eq!(base_path(&svc), None);
        assert_eq!(url_prefix(&svc), "/");
        for (given, want) in [("/shop/", "/shop"), ("shop", "/shop"), ("//a//b/", "/a/b")] {
            svc.application.base_path = Some(given.into());
            assert_eq!(base_path(&svc).as_deref(), Some(want), "{given}");
            assert_eq!(base_flag(&svc), Some(format!("{want}/")), "{given}");
        }
        svc.application.base_path = Some("/".into());
        assert_eq!(base_path(&svc), None);
    }

    #[test]
    fn the_cli_comes_from_node_modules_bin_up_the_tree_or_the_error_says_what_to_do() {
        let root = tempfile::tempdir().unwrap();
        let svc_dir = root.path().join("web/site");
        std::fs::create_dir_all(&svc_dir).unwrap();
        let svc = service(&svc_dir, Kind::Astro);
        let err = build_or_cli(&svc, "astro", &["build".into()]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("\"web\"")
                && msg.contains("npm install")
                && msg.contains("commands.build"),
            "{msg}"
        );

        touch(root.path(), "node_modules/.bin/astro");
        let cmd = build_or_cli(
            &svc,
            "astro",
            &["build".into(), "--base".into(), "/a b/".into()],
        )
        .unwrap();
        assert_eq!(cmd.display, "astro build --base '/a b/'");
        assert_eq!(
            cmd.argv[0],
            root.path()
                .join("node_modules/.bin/astro")
                .to_string_lossy()
        );

        let mut svc = svc;
        svc.application.commands.build = Some("make site".into());
        let cmd = build_or_cli(&svc, "astro", &[]).unwrap();
        assert_eq!(cmd.argv, ["sh", "-c", "make site"]);
    }

    #[test]
    fn a_missing_output_folder_names_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(dir.path(), Kind::Vite);
        let err = output_dir(&svc, "dist", "vite build", "application.outputDirectory")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dist/") && err.contains("application.outputDirectory"),
            "{err}"
        );
    }
}
