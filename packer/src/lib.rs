//! `watt-pack`: turns a Platformatic Watt application into one deployable artifact.
//!
//! Pipeline: [`config`] resolves the app → [`frameworks`] say how each service builds, and
//! [`build`] runs those builds (with [`globals`] set) → each framework says what production
//! needs and how it starts → [`imports`] finds what the service's code loads and [`closure`]
//! adds its production dependencies → [`pack`] lays it all out as ordered [`layers`] with its
//! manifest → [`verify`] checks every import resolves inside it → a [`sink`] writes it.

pub mod addons;
pub mod build;
pub mod build_info;
pub mod closure;
pub mod config;
pub mod env_files;
pub mod exclude;
pub mod frameworks;
pub mod globals;
pub mod image;
pub mod imports;
pub mod inspect;
pub mod k8s;
pub mod layers;
pub mod node_runtime;
pub mod pack;
pub mod paths;
pub mod publish;
pub mod sbom;
pub mod schema_check;
pub mod sink;
pub mod tree;
pub mod verify;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub struct BuildOptions {
    /// `--node`: the node executable to carry; default: `node` on PATH.
    pub node: Option<PathBuf>,
    /// `--stub`: the watt-stub binary; default: `WATT_STUB`, else next to this executable.
    pub stub: Option<PathBuf>,
    /// Builds run at once.
    pub jobs: usize,
    /// `--include GLOB`: ship what the ignore rules would leave out (gitignore syntax,
    /// relative to the app root).
    pub include: Vec<String>,
    /// `--dotenv`: bake env file values into the manifest.
    pub bake_dotenv: bool,
    /// `--sbom spdx`: an SPDX document beside the CycloneDX one.
    pub sbom: sbom::Formats,
    /// `--dry-run`: builds get a private `TMPDIR`, removed afterwards, so what they cache there
    /// (node's compile cache, bundlers' scratch files) does not outlive the run.
    pub private_tmp: bool,
}

/// Build and pack a resolved app ([`config::resolve`]). Cheap checks (node, stub) come first so
/// a mistake is reported before minutes of framework builds.
pub fn build_app(app: &config::ResolvedApp, opts: &BuildOptions) -> Result<sink::PackedApp> {
    for w in &app.warnings {
        eprintln!("watt: warning: {w}");
    }
    let node_path = node_runtime::locate(opts.node.as_deref())?;
    let node = node_runtime::inspect(&node_path)?;
    let stub = locate_stub(opts.stub.as_deref())?;
    let rules = exclude::ShipRules::new(app, &opts.include)?;
    let frameworks = app
        .services
        .iter()
        .map(|s| frameworks::for_service(s).map(|f| (s, f)))
        .collect::<Result<Vec<_>>>()?;
    eprintln!(
        "watt: packing {} ({} services, entrypoint {}) with node {}",
        app.name,
        app.services.len(),
        app.entrypoint,
        node.version
    );

    let tmp = opts
        .private_tmp
        .then(|| tempfile::Builder::new().prefix("watt-build-").tempdir())
        .transpose()
        .context("cannot create a temporary folder for the builds")?;
    let mut jobs = Vec::new();
    for (svc, fw) in &frameworks {
        if let Some(mut command) = fw.build_command(svc)? {
            globals::apply(&mut command, app, svc);
            if let Some(tmp) = &tmp {
                for var in ["TMPDIR", "TMP", "TEMP"] {
                    let dir = tmp.path().to_string_lossy().into_owned();
                    command.env.push((var.to_string(), dir));
                }
            }
            jobs.push(build::BuildJob {
                id: svc.id.clone(),
                dir: svc.path.clone(),
                command,
                bin_dirs: vec![
                    svc.path.join("node_modules/.bin"),
                    app.root.join("node_modules/.bin"),
                ],
            });
        }
    }
    // The config check imports every capability package (about a second each), so it runs
    // beside the builds rather than before them.
    let (built, checked) = std::thread::scope(|s| {
        let check = s.spawn(|| schema_check::check(&node.binary, app));
        let built = build::run_builds(jobs, &build::log_dir(&app.root), opts.jobs);
        (built, check.join())
    });
    drop(tmp);
    let checked = checked.unwrap_or_else(|_| Err(anyhow::anyhow!("the config check panicked")));
    if let (Err(_), Err(e)) = (&built, &checked) {
        eprintln!("error: {e:#}");
    }
    built?;
    let unloaded = checked?;

    let services = frameworks
        .iter()
        .map(|(svc, fw)| frameworks::package(*fw, svc, app).map(|p| (*svc, p)))
        .collect::<Result<Vec<_>>>()?;
    unloaded.judge(services.iter().filter_map(|(svc, p)| {
        matches!(p.start, frameworks::StartPlan::Capability { .. }).then_some(svc.id.as_str())
    }))?;
    for (svc, p) in &services {
        eprintln!(
            "watt: service \"{}\" ({}): {}",
            svc.id,
            svc.kind,
            p.start.describe()
        );
    }
    let packed = pack::pack(pack::PackInput {
        app,
        services,
        node: &node,
        stub: &stub,
        mtime: pack::mtime_from_env()?,
        rules: &rules,
        bake_dotenv: opts.bake_dotenv,
        sbom: opts.sbom,
    })?;
    sbom::write_omitted(&app.root, &packed.sbom_omitted)?;
    for line in rules
        .warnings()
        .into_iter()
        .chain(env_files::report(app, opts.bake_dotenv))
    {
        eprintln!("{line}");
    }
    Ok(packed)
}

/// The watt-stub to pack (`--stub`, else `WATT_STUB`, else next to this executable), with the
/// build information the SBOM lists its crates from; a file without it, or one linked
/// dynamically, is refused.
pub fn locate_stub(explicit: Option<&Path>) -> Result<build_info::StubBinary> {
    let stub = find_stub(explicit)?;
    let bytes = std::fs::read(&stub).with_context(|| format!("cannot read {}", stub.display()))?;
    let info = build_info::read(&bytes).with_context(|| {
        format!(
            "{} is not a watt-stub of watt-pack {}; pass the watt-stub built with this watt \
             (--stub PATH or WATT_STUB)",
            stub.display(),
            env!("CARGO_PKG_VERSION")
        )
    })?;
    if info.name != "watt-stub" {
        bail!(
            "{} is {} {}, not watt-stub; pass the watt-stub built with this watt (--stub PATH or \
             WATT_STUB)",
            stub.display(),
            info.name,
            info.version
        );
    }
    // An image has no libc at its root and an archive's host may have another: a stub that
    // needs the build host's loader would start nowhere else.
    if let Some(loader) = build_info::interpreter(&bytes)? {
        bail!(
            "{} is dynamically linked (it needs {loader}), so it cannot start in an image or on \
             another host; build it static: RUSTFLAGS=\"-C target-feature=+crt-static\" cargo \
             build --release --target x86_64-unknown-linux-gnu -p watt-stub (ci/release.sh \
             does), or install watt from npm or the release tarball",
            stub.display()
        );
    }
    if info.version != env!("CARGO_PKG_VERSION") {
        eprintln!(
            "watt: warning: packing watt-stub {} ({}) with watt {}; they are released together",
            info.version,
            stub.display(),
            env!("CARGO_PKG_VERSION")
        );
    }
    Ok(build_info::StubBinary { path: stub, info })
}

fn find_stub(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if !p.is_file() {
            bail!("--stub {}: no such file", p.display());
        }
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("WATT_STUB") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("WATT_STUB={}: no such file", p.display());
        }
        return Ok(p);
    }
    let exe = std::env::current_exe().context("cannot locate the watt executable")?;
    let sibling = exe.with_file_name("watt-stub");
    if sibling.is_file() {
        return Ok(sibling);
    }
    bail!(
        "watt-stub not found next to {}; install both together (npm's watt-pack, the release \
         tarball, or `cargo install --locked --path runtime-stub` into the same folder), or pass \
         --stub PATH / set WATT_STUB",
        exe.display()
    )
}
