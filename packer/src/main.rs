use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use watt_pack::image::{self, reference::Reference};
use watt_pack::publish::{ImagePlan, LocalImage, Plan, Published};
use watt_pack::sink::{archive::Compression, ArchiveSink};

/// Pack a Platformatic Watt application into one deployable artifact.
#[derive(Parser)]
#[command(name = "watt", about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build every service and pack the app.
    Build(BuildArgs),
    /// Show what an artifact holds: size and files per part and per layer, the largest
    /// packages, the SBOM summary, the env file keys baked in (names only), what the ignore
    /// rules left out.
    Inspect {
        /// An archive written by `watt build` (.tar.zst, .tar.gz, .tar), an OCI layout folder,
        /// an oci-archive, or a registry reference (credentials as for --push).
        artifact: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Talk plain HTTP to the registry (loopback test registries).
        #[arg(long)]
        insecure: bool,
    },
    /// Write Kubernetes manifests (Deployment, Service) for the app's image.
    K8s {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The image reference, e.g. registry.example.com/shop:1.2.3.
        #[arg(long)]
        image: String,
        /// Output folder (created).
        #[arg(short, long, default_value = "k8s")]
        output: PathBuf,
        #[arg(long, default_value_t = 2)]
        replicas: u32,
        /// Numeric uid (and gid) the image runs as.
        #[arg(long, default_value_t = 65532)]
        user: u32,
        /// The artifact root inside the image.
        #[arg(long, default_value = "/app")]
        root: String,
    },
    /// Print the resolved application: services, kinds, entrypoint, environment.
    Resolve {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct BuildArgs {
    /// The app folder (holding watt.json).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Output format (default: archive, or only the registry when --push is given without -o).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Output path. archive: its extension picks the compression: .tar.zst (default),
    /// .tar.gz, .tar; default <app name>.tar.zst. oci: a folder (default <app name>.oci).
    /// oci-archive: a tar file (default <app name>.oci.tar).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The node executable to carry (default: `node` on PATH).
    #[arg(long)]
    node: Option<PathBuf>,
    /// The watt-stub binary (default: WATT_STUB, else next to `watt`).
    #[arg(long, env = "WATT_STUB")]
    stub: Option<PathBuf>,
    /// Builds to run at once (default: number of cores).
    #[arg(short, long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    jobs: Option<usize>,
    /// Image name and tag, e.g. registry.example.com/team/app:1.2 (repeatable); the first
    /// sets org.opencontainers.image.version; oci-archive's RepoTags.
    #[arg(long = "tag", value_name = "REF")]
    tags: Vec<String>,
    /// Numeric user the image runs as [default: 65532:65532].
    #[arg(long, value_name = "UID:GID")]
    user: Option<watt_pack::image::User>,
    /// Image layer compression [default: gzip].
    #[arg(long, value_enum)]
    compression: Option<watt_pack::image::Compression>,
    /// Print a JSON result (digest, tags, layers, outputs, pushes) on stdout instead of
    /// REF@DIGEST.
    #[arg(long)]
    json: bool,
    /// Push the image to this registry reference (repeatable), e.g. ghcr.io/acme/app:1.2.
    /// Credentials come from ~/.docker/config.json ($DOCKER_CONFIG).
    #[arg(long = "push", value_name = "REF")]
    push: Vec<String>,
    /// Write the pushed references (REF@sha256:…), one a line, to this file.
    #[arg(long, value_name = "FILE")]
    image_refs: Option<PathBuf>,
    /// Talk plain HTTP to the registry (loopback test registries).
    #[arg(long)]
    insecure: bool,
    /// Put the app on this image: an OCI layout folder, an oci-archive or docker-archive
    /// tar, or a registry reference (default: none; the image holds only the app).
    #[arg(long, value_name = "IMAGE")]
    base: Option<String>,
    /// Ship paths the ignore rules leave out (secret-like files, .wattignore,
    /// .dockerignore): a gitignore-style glob relative to the app root, e.g. `web/api/.env`
    /// or `*.pem`. Repeatable.
    #[arg(long = "include", value_name = "GLOB")]
    include: Vec<String>,
    /// Bake env file values (.env, envfile) into the manifest instead of leaving them out;
    /// also WATT_DOTENV=1.
    #[arg(long, env = "WATT_DOTENV")]
    dotenv: bool,
    /// With an image format, also write the archive (as `--format archive` would) from the
    /// same build: its extension picks the compression.
    #[arg(long, value_name = "FILE")]
    archive: Option<PathBuf>,
    /// SBOM formats beside the CycloneDX one every artifact carries at sbom.cdx.json:
    /// `spdx` adds SPDX 2.3 JSON at sbom.spdx.json.
    #[arg(long = "sbom", value_enum, value_name = "FORMAT")]
    sbom: Vec<SbomFormat>,
    /// Build and pack in memory and print what would ship (as `watt inspect`; --json for
    /// JSON), writing no artifact.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SbomFormat {
    /// CycloneDX 1.5 JSON (always written).
    Cyclonedx,
    /// SPDX 2.3 JSON.
    Spdx,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A self-contained .tar.zst/.tar.gz that runs on a Linux host without Node.
    Archive,
    /// An OCI image layout folder.
    Oci,
    /// One tar with the OCI layout plus a Docker manifest.json: `docker load`, `podman load`,
    /// `skopeo copy oci-archive:…` all read it.
    OciArchive,
}

fn main() -> ExitCode {
    // The version line names the commit too, which clap's derive cannot know at compile time.
    let version: &'static str = Box::leak(watt_pack::build_info::own().version_line().into());
    let cli = Cli::command().version(version).get_matches();
    let cli = match Cli::from_arg_matches(&cli) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print_report(report: &watt_pack::inspect::Report, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Inspect {
            artifact,
            json,
            insecure,
        } => print_report(&watt_pack::inspect::inspect(&artifact, insecure)?, json),
        Cmd::K8s {
            dir,
            image,
            output,
            replicas,
            user,
            root,
        } => {
            let app = watt_pack::config::resolve(&dir)?;
            let options = watt_pack::k8s::Options {
                image,
                replicas,
                user,
                root,
            };
            std::fs::create_dir_all(&output)
                .with_context(|| format!("cannot create {}", output.display()))?;
            for (name, doc) in watt_pack::k8s::manifests(&app, &options)? {
                let path = output.join(name);
                let tmp = output.join(format!(".{name}.tmp"));
                let mut text = serde_json::to_string_pretty(&doc)?;
                text.push('\n');
                std::fs::write(&tmp, text)
                    .and_then(|()| std::fs::rename(&tmp, &path))
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("watt: wrote {}", path.display());
            }
            Ok(())
        }
        Cmd::Resolve { dir, json } => {
            let app = watt_pack::config::resolve(&dir)?;
            if json {
                let mut value = serde_json::to_value(&app)?;
                // Which services `watt build` can pack, beside Watt's own view of the app.
                if let Some(services) = value.get_mut("services").and_then(|s| s.as_array_mut()) {
                    for (v, s) in services.iter_mut().zip(&app.services) {
                        let packable = watt_pack::frameworks::for_service(s).err();
                        v["packable"] = serde_json::Value::Bool(packable.is_none());
                        if let Some(why) = packable {
                            v["notPackable"] = serde_json::Value::String(why.to_string());
                        }
                    }
                }
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print_summary(&app);
            }
            Ok(())
        }
        Cmd::Build(args) => build(args),
    }
}

/// `watt build`: check where the outputs go, build and pack, publish.
fn build(args: BuildArgs) -> Result<()> {
    let BuildArgs {
        dir,
        format,
        output,
        node,
        stub,
        jobs,
        tags,
        user,
        compression,
        json,
        push,
        image_refs,
        insecure,
        base,
        include,
        dotenv,
        archive,
        sbom,
        dry_run,
    } = args;
    let tags = tags
        .iter()
        .map(|t| {
            t.parse::<Reference>()
                .map_err(|e| anyhow::anyhow!("--tag {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let push = push
        .iter()
        .map(|t| {
            let r = t
                .parse::<Reference>()
                .map_err(|e| anyhow::anyhow!("--push {e}"))?;
            if r.registry.is_none() {
                bail!("--push {t}: name the registry, e.g. registry.example.com/{t}");
            }
            Ok(r)
        })
        .collect::<Result<Vec<_>>>()?;
    if image_refs.is_some() && push.is_empty() {
        bail!("--image-refs lists pushed references: add --push REF");
    }
    // With --push and no -o/--format, the registry is the only output.
    let local = format.is_some() || output.is_some() || push.is_empty();
    let format = format.unwrap_or(if push.is_empty() {
        Format::Archive
    } else {
        Format::OciArchive
    });
    if format == Format::Archive && (!push.is_empty() || base.is_some()) {
        bail!(
            "--push and --base make an image: use --format oci or oci-archive (or no \
             --format with --push)"
        );
    }
    // A flag that would do nothing is a mistake to name, not to ignore.
    let image_only: Vec<&str> = [
        (!tags.is_empty(), "--tag"),
        (user.is_some(), "--user"),
        (compression.is_some(), "--compression"),
        (json && !dry_run, "--json"),
    ]
    .into_iter()
    .filter_map(|(given, flag)| given.then_some(flag))
    .collect();
    if format == Format::Archive && !dry_run && !image_only.is_empty() {
        bail!(
            "{} only apply to an image: add --format oci or oci-archive (or --push REF), or \
             drop them",
            image_only.join(", ")
        );
    }
    if insecure && push.is_empty() && base.is_none() {
        bail!("--insecure is for a registry: use it with --push or a registry --base");
    }
    let started = std::time::Instant::now();
    let app = watt_pack::config::resolve(&dir)?;
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let options = watt_pack::BuildOptions {
        node,
        stub,
        jobs,
        include,
        bake_dotenv: dotenv,
        private_tmp: dry_run,
        sbom: watt_pack::sbom::Formats {
            spdx: sbom.contains(&SbomFormat::Spdx),
        },
    };
    if dry_run {
        let packed = watt_pack::build_app(&app, &options)?;
        let report = watt_pack::inspect::packed(&packed, &app.root)?;
        return print_report(&report, json);
    }
    let output = output.unwrap_or_else(|| default_output(&app, format));
    let archive_sink = |path: &Path, flag: &str| match Compression::from_path(path) {
        Some(compression) => Ok(ArchiveSink {
            path: path.to_path_buf(),
            compression,
        }),
        None => bail!(
            "{flag}{}: the archive name must end in .tar.zst, .tar.gz or .tar",
            path.display()
        ),
    };
    let mut plan = match format {
        Format::Archive if archive.is_some() => {
            bail!("--archive adds an archive to an image: use it with --format oci or oci-archive")
        }
        Format::Archive => Plan::Archive(archive_sink(&output, "")?),
        Format::Oci | Format::OciArchive => Plan::Image(ImagePlan {
            local: local.then_some(if format == Format::Oci {
                LocalImage::Layout(output)
            } else {
                LocalImage::OciArchive(output)
            }),
            archive: archive
                .as_deref()
                .map(|a| archive_sink(a, "--archive "))
                .transpose()?,
            push,
            image_refs,
            push_options: image::push::PushOptions { insecure },
            options: image::ImageOptions {
                tags,
                user: user.unwrap_or_default(),
                compression: compression.unwrap_or(watt_pack::image::Compression::Gzip),
                labels: image::config::git_labels(&app.root),
                base: None,
            },
        }),
    };
    plan.check()?;
    // Opened (and pulled) before building: a bad --base fails in seconds.
    let scratch = tempfile::Builder::new()
        .prefix("watt-base-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    if let (Plan::Image(p), Some(b)) = (&mut plan, base) {
        p.options.base = Some(image::base::open(&b, scratch.path(), insecure)?);
    }
    let packed = watt_pack::build_app(&app, &options)?;
    let published = watt_pack::publish::publish(&packed, &plan)?;
    let tags = match &plan {
        Plan::Image(p) => p.options.tags.as_slice(),
        Plan::Archive(_) => &[],
    };
    print_published(&published, &app, tags, packed.layers.len(), started, json)
}

/// The last progress line on stderr, and the result on stdout: `REF@DIGEST` (or each pushed
/// reference), or the whole result with `--json`.
fn print_published(
    published: &Published,
    app: &watt_pack::config::ResolvedApp,
    tags: &[Reference],
    layers: usize,
    started: std::time::Instant,
    json: bool,
) -> Result<()> {
    let secs = started.elapsed().as_secs_f64();
    let (img, pushed, outputs) = match published {
        Published::Archive { path, bytes } => {
            let path = path.display();
            eprintln!(
                "watt: wrote {path} ({:.1} MB, {layers} layers flattened) in {secs:.1}s\n      \
                 run it: mkdir app && tar -xf {path} -C app && app/watt-stub",
                *bytes as f64 / 1e6,
            );
            return Ok(());
        }
        Published::Image {
            image,
            pushed,
            outputs,
        } => (image, pushed, outputs),
    };
    let compressed: u64 = img.layers.iter().map(|l| l.descriptor.size).sum();
    let unpacked: u64 = img.layers.iter().map(|l| l.uncompressed_size).sum();
    let local = outputs.iter().find(|(f, _)| *f != "archive");
    eprintln!(
        "watt: image {} ({} layers, {:.1} MB compressed, {:.1} MB unpacked) in {secs:.1}s",
        local.map_or("pushed".to_string(), |(_, p)| p.display().to_string()),
        img.layers.len(),
        compressed as f64 / 1e6,
        unpacked as f64 / 1e6,
    );
    let name = tags
        .first()
        .map(|t| t.name())
        .unwrap_or_else(|| default_name(app));
    if json {
        let v = serde_json::json!({
            "digest": img.manifest.digest,
            "reference": format!("{name}@{}", img.manifest.digest),
            "tags": tags.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            "config": img.config.digest,
            "outputs": outputs.iter().map(|(format, path)| serde_json::json!({"format": format, "path": path})).collect::<Vec<_>>(),
            "pushed": pushed.iter().map(|p| serde_json::json!({
                "reference": p.reference,
                "uploaded": p.uploaded.iter().map(|(d, s)| serde_json::json!({"digest": d, "size": s})).collect::<Vec<_>>(),
                "uploadedBytes": p.uploaded.iter().map(|(_, s)| s).sum::<u64>() + p.manifest_size,
                "skipped": p.skipped,
                "sbom": p.sbom.as_ref().map(|s| serde_json::json!({
                    "reference": s.reference,
                    "referrersTag": s.referrers_tag,
                })),
            })).collect::<Vec<_>>(),
            "layers": img.layers.iter().map(|l| serde_json::json!({
                "name": l.name,
                "owner": l.owner,
                "digest": l.descriptor.digest,
                "mediaType": l.descriptor.media_type,
                "size": l.descriptor.size,
                "diffId": l.diff_id,
                "uncompressedSize": l.uncompressed_size,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if pushed.is_empty() {
        println!("{name}@{}", img.manifest.digest);
    } else {
        for p in pushed {
            println!("{}", p.reference);
        }
    }
    Ok(())
}

fn default_name(app: &watt_pack::config::ResolvedApp) -> String {
    app.name
        .trim_start_matches('@')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn default_output(app: &watt_pack::config::ResolvedApp, format: Format) -> PathBuf {
    let name = default_name(app);
    PathBuf::from(match format {
        // Archive names keep the app name's case, as before images existed.
        Format::Archive => format!(
            "{}.tar.zst",
            app.name
                .trim_start_matches('@')
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '-'
                })
                .collect::<String>()
        ),
        Format::Oci => format!("{name}.oci"),
        Format::OciArchive => format!("{name}.oci.tar"),
    })
}

fn print_summary(app: &watt_pack::config::ResolvedApp) {
    println!("app {} ({})", app.name, app.config_file.display());
    println!(
        "entrypoint {} ({:?})",
        app.entrypoint, app.entrypoint_reason
    );
    for s in &app.services {
        let rel = s.path.strip_prefix(&app.root).unwrap_or(&s.path);
        let mark = if watt_pack::frameworks::for_service(s).is_ok() {
            ""
        } else {
            "  (cannot be packed yet)"
        };
        println!(
            "  {:<16} {:<13} {}{mark}",
            s.id,
            s.kind.as_str(),
            rel.display()
        );
        if !s.dependencies.is_empty() {
            println!("  {:<16} depends on {}", "", s.dependencies.join(", "));
        }
    }
    for w in &app.warnings {
        println!("warning: {w}");
    }
}
