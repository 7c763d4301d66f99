//! The registry sink: the OCI distribution API through `oci-client`, credentials from the Docker
//! config (`~/.docker/config.json` or `$DOCKER_CONFIG`: `auths`, `credsStore`, `credHelpers`) via
//! `docker_credential`. Each blob is HEADed first and skipped when the registry has it; the rest
//! are uploaded, then the manifest. Server errors and dropped connections are retried with
//! backoff; an authentication failure names the registry and never a credential.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use super::layout::Layout;
use super::reference::Reference;
use super::{referrers, Descriptor, Image, MEDIA_INDEX, MEDIA_MANIFEST};

#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Plain HTTP (loopback test registries).
    pub insecure: bool,
}

#[derive(Debug, Clone)]
pub struct Pushed {
    /// `REGISTRY/NAME@sha256:…`
    pub reference: String,
    /// Blobs the registry did not have (digest, size): uploaded by this push.
    pub uploaded: Vec<(String, u64)>,
    pub skipped: usize,
    pub manifest_size: u64,
    /// The SBOM attached to the image as an OCI 1.1 artifact.
    pub sbom: Option<PushedSbom>,
}

#[derive(Debug, Clone)]
pub struct PushedSbom {
    /// `REGISTRY/NAME@sha256:…` of the artifact manifest.
    pub reference: String,
    /// The referrers tag schema's fallback tag that lists it: `sha256-<image hex>`.
    pub referrers_tag: String,
}

const ATTEMPTS: u32 = 4;

pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime for the push")
}

/// Before any build: every registry answers and takes the credentials (a HEAD of a blob with
/// push rights), so a typo or a wrong password fails in a second, not after the builds.
pub fn check(refs: &[Reference], opts: &PushOptions) -> Result<()> {
    if refs.is_empty() {
        return Ok(());
    }
    runtime()?.block_on(async {
        for r in refs {
            let reg = Registry::connect(r, opts.insecure, RegistryOperation::Push).await?;
            let empty = super::blob::sha256(b"");
            reg.call(RegistryOperation::Push, || {
                reg.client.blob_exists(&reg.target, &empty)
            })
            .await
            .map_err(|e| explain(&reg.registry, e))?;
        }
        Ok(())
    })
}

pub fn push(
    image: &Image,
    layout: &Layout,
    refs: &[Reference],
    opts: &PushOptions,
) -> Result<Vec<Pushed>> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    runtime()?.block_on(async {
        let mut out = Vec::new();
        for r in refs {
            out.push(push_one(image, layout, r, opts).await?);
        }
        Ok(out)
    })
}

pub(super) struct Registry {
    pub registry: String,
    pub target: oci_client::Reference,
    pub client: Client,
    pub auth: RegistryAuth,
}

impl Registry {
    pub async fn connect(r: &Reference, insecure: bool, op: RegistryOperation) -> Result<Self> {
        let registry = r.registry.clone().ok_or_else(|| {
            anyhow!("--push {r}: name the registry, e.g. registry.example.com/{r}")
        })?;
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let target = oci_client::Reference::with_tag(registry.clone(), r.repository.clone(), tag);
        let protocol = if insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(120)),
            platform_resolver: Some(Box::new(oci_client::client::current_platform_resolver)),
            ..Default::default()
        });
        let auth = credentials(&registry)?;
        retry(|| client.auth(&target, &auth, op))
            .await
            .map_err(|e| explain(&registry, e))?;
        Ok(Self {
            registry,
            target,
            client,
            auth,
        })
    }
}

async fn push_one(
    image: &Image,
    layout: &Layout,
    r: &Reference,
    opts: &PushOptions,
) -> Result<Pushed> {
    let reg = Registry::connect(r, opts.insecure, RegistryOperation::Push).await?;
    let (registry, target, client) = (&reg.registry, &reg.target, &reg.client);
    let push = RegistryOperation::Push;
    let failed = |e: OciDistributionError| explain(registry, e);
    let mut uploaded = Vec::new();
    let mut skipped = 0;
    let blobs: Vec<&Descriptor> = image
        .layers
        .iter()
        .map(|l| &l.descriptor)
        .chain([&image.config])
        .collect();
    for d in blobs {
        let exists = reg
            .call(push, || client.blob_exists(target, &d.digest))
            .await
            .map_err(failed)?;
        if exists {
            skipped += 1;
            continue;
        }
        let path = layout.blob_path(d);
        let data = bytes::Bytes::from(
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        reg.call(push, || client.push_blob(target, data.clone(), &d.digest))
            .await
            .map_err(failed)
            .with_context(|| format!("cannot upload {} to {registry}", d.digest))?;
        eprintln!(
            "watt: pushed blob {} ({:.1} MB) to {registry}",
            d.digest,
            d.size as f64 / 1e6
        );
        uploaded.push((d.digest.clone(), d.size));
    }
    let content_type = http::HeaderValue::from_static(MEDIA_MANIFEST);
    reg.call(push, || {
        client.push_manifest_raw(target, image.manifest_bytes.clone(), content_type.clone())
    })
    .await
    .map_err(failed)
    .with_context(|| format!("cannot push the manifest of {r}"))?;
    let reference = format!("{}@{}", r.name(), image.manifest.digest);
    let sbom = match &image.sbom {
        Some(bytes) => Some(push_sbom(&reg, image, bytes, r).await?),
        None => None,
    };
    eprintln!(
        "watt: pushed {r}: {} blobs uploaded ({:.1} MB), {skipped} already there",
        uploaded.len(),
        uploaded.iter().map(|(_, s)| *s).sum::<u64>() as f64 / 1e6
    );
    Ok(Pushed {
        reference,
        uploaded,
        skipped,
        manifest_size: image.manifest.size,
        sbom,
    })
}

/// The SBOM as an artifact whose `subject` is the image just pushed, and the referrers tag
/// listing it (see [`referrers`]): registries without the referrers API, like the CNCF
/// distribution registry 2.x, find it only through that tag.
async fn push_sbom(
    reg: &Registry,
    image: &Image,
    sbom: &[u8],
    r: &Reference,
) -> Result<PushedSbom> {
    let (registry, client) = (&reg.registry, &reg.client);
    let push = RegistryOperation::Push;
    let failed = |e: OciDistributionError| explain(registry, e);
    let manifest = super::json::canonical(&referrers::sbom_manifest(sbom, &image.manifest))?;
    let artifact = Descriptor {
        media_type: MEDIA_MANIFEST.into(),
        digest: super::blob::sha256(&manifest),
        size: manifest.len() as u64,
    };
    for blob in [referrers::EMPTY, sbom] {
        let digest = super::blob::sha256(blob);
        let exists = reg
            .call(push, || client.blob_exists(&reg.target, &digest))
            .await
            .map_err(failed)?;
        if !exists {
            let data = bytes::Bytes::copy_from_slice(blob);
            reg.call(push, || {
                client.push_blob(&reg.target, data.clone(), &digest)
            })
            .await
            .map_err(failed)
            .with_context(|| format!("cannot upload the SBOM blob {digest} to {registry}"))?;
        }
    }
    let at = |reference: &str| {
        oci_client::Reference::with_digest(
            registry.clone(),
            r.repository.clone(),
            reference.to_string(),
        )
    };
    let by_digest = at(&artifact.digest);
    let content_type = http::HeaderValue::from_static(MEDIA_MANIFEST);
    reg.call(push, || {
        client.push_manifest_raw(&by_digest, manifest.clone(), content_type.clone())
    })
    .await
    .map_err(failed)
    .with_context(|| format!("cannot push the SBOM artifact of {r}"))?;

    let tag = referrers::fallback_tag(&image.manifest);
    let tagged =
        oci_client::Reference::with_tag(registry.clone(), r.repository.clone(), tag.clone());
    let existing = match reg
        .call(push, || {
            client.pull_manifest_raw(&tagged, &reg.auth, &[MEDIA_INDEX])
        })
        .await
    {
        Ok((bytes, _)) => serde_json::from_slice::<serde_json::Value>(&bytes).ok(),
        Err(OciDistributionError::ImageManifestNotFoundError(_))
        | Err(OciDistributionError::ServerError { code: 404, .. }) => None,
        // No referrers yet: the tag does not exist.
        Err(OciDistributionError::RegistryError { envelope, .. })
            if envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    oci_client::errors::OciErrorCode::ManifestUnknown
                        | oci_client::errors::OciErrorCode::NotFound
                )
            }) =>
        {
            None
        }
        Err(e) => {
            return Err(failed(e))
                .with_context(|| format!("cannot read the referrers tag {tag} of {r}"))
        }
    };
    let index = super::json::canonical(&referrers::referrers_index(existing.as_ref(), &artifact))?;
    let content_type = http::HeaderValue::from_static(MEDIA_INDEX);
    reg.call(push, || {
        client.push_manifest_raw(&tagged, index.clone(), content_type.clone())
    })
    .await
    .map_err(failed)
    .with_context(|| format!("cannot push the referrers tag {tag} of {r}"))?;
    let reference = format!("{}@{}", r.name(), artifact.digest);
    eprintln!("watt: pushed the SBOM {reference} (referrers tag {tag})");
    Ok(PushedSbom {
        reference,
        referrers_tag: tag,
    })
}

impl Registry {
    /// `op` with [`retry`]'s backoff on transient errors, and one more thing: a refusal while
    /// holding credentials re-runs the auth handshake first (a registry that answered the
    /// handshake with a 5xx, or a bearer token that expired, looks like a refusal).
    async fn call<T, F, Fut>(
        &self,
        operation: RegistryOperation,
        mut op: F,
    ) -> std::result::Result<T, OciDistributionError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, OciDistributionError>>,
    {
        let has_credentials = !matches!(self.auth, RegistryAuth::Anonymous);
        let mut delay = Duration::from_millis(250);
        let mut attempt = 1;
        loop {
            match op().await {
                Err(e) if attempt < ATTEMPTS && transient(&e) => {
                    eprintln!(
                        "watt: registry {} error ({e}); retrying in {delay:?}",
                        self.registry
                    );
                }
                Err(e) if attempt < ATTEMPTS && has_credentials && unauthorized(&e) => {
                    eprintln!(
                        "watt: registry {} refused the request; authenticating again and \
                         retrying in {delay:?}",
                        self.registry
                    );
                    tokio::time::sleep(delay).await;
                    let _ = self.client.auth(&self.target, &self.auth, operation).await;
                    delay *= 2;
                    attempt += 1;
                    continue;
                }
                other => return other,
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
            attempt += 1;
        }
    }
}

/// Credentials for `registry` from the Docker config; anonymous when it has none.
fn credentials(registry: &str) -> Result<RegistryAuth> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    match docker_credential::get_credential(registry) {
        Ok(DockerCredential::UsernamePassword(u, p)) => Ok(RegistryAuth::Basic(u, p)),
        Ok(DockerCredential::IdentityToken(t)) => Ok(RegistryAuth::Bearer(t)),
        Err(E::ConfigNotFound | E::NoCredentialConfigured | E::ConfigReadError) => {
            Ok(RegistryAuth::Anonymous)
        }
        Err(e) => bail!(
            "cannot read the credentials for {registry} from the Docker config ({e}); fix \
             ~/.docker/config.json (or $DOCKER_CONFIG/config.json) or run `docker login {registry}`"
        ),
    }
}

/// A failure worth another try: the registry's fault or the network's, never ours.
fn transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ServerError { code, .. } => *code >= 500,
        OciDistributionError::RequestError(r) => {
            r.is_connect() || r.is_timeout() || r.status().is_some_and(|s| s.is_server_error())
        }
        _ => false,
    }
}

async fn retry<T, F, Fut>(mut op: F) -> std::result::Result<T, OciDistributionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, OciDistributionError>>,
{
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if attempt < ATTEMPTS && transient(&e) => {
                eprintln!("watt: registry error ({e}); retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn unauthorized(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 401 || *code == 403,
        OciDistributionError::RequestError(r) => r
            .status()
            .is_some_and(|s| s.as_u16() == 401 || s.as_u16() == 403),
        OciDistributionError::RegistryError { envelope, .. } => {
            let text = envelope.to_string();
            text.contains("UNAUTHORIZED") || text.contains("DENIED")
        }
        _ => false,
    }
}

/// What went wrong, in the user's terms. Credentials are never part of these messages.
pub(super) fn explain(registry: &str, e: OciDistributionError) -> anyhow::Error {
    if unauthorized(&e) {
        return anyhow!(
            "authentication failed at registry {registry}: the registry refused the credentials \
             (or their absence); run `docker login {registry}` or fix its entry in \
             ~/.docker/config.json ($DOCKER_CONFIG)"
        );
    }
    if let OciDistributionError::RequestError(r) = &e {
        if r.is_connect() || r.is_timeout() {
            return anyhow!(
                "cannot reach registry {registry} ({}); check the address, and pass --insecure \
                 for a plain-HTTP registry",
                std::error::Error::source(r).map_or_else(|| r.to_string(), |s| s.to_string())
            );
        }
    }
    anyhow!("registry {registry}: {e}")
}
