//! Files from a folder: static sites (`Start::Static`) and the client files of framework
//! services (`staticAssets`).
//!
//! Safety first: the request path is percent-decoded once; `..`, encoded `/` or `\`, and NUL are
//! refused; dot-files (but `.well-known`) are never served; and the file actually opened is
//! canonicalized (symlinks resolved) and must lie inside the canonical root.
//!
//! Caching: a strong ETag from the file's content (SHA-256, computed once per file version),
//! `Last-Modified`, 304s; hashed asset names are `immutable`, the rest revalidates.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncSeekExt, ReadBuf};

use super::{empty, text, Body, BoxError};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "public, max-age=0, must-revalidate";
const CHUNK: usize = 64 * 1024;

pub struct StaticFiles {
    /// Canonical: every file served must be below it.
    root: PathBuf,
    /// URL path the folder is mounted at, `""` for `/`.
    mount: String,
    /// Whether paths outside `mount` are served too (a static site's base path may or may not
    /// reach it, depending on the gateway in front; a front's files live only under its prefix).
    mount_optional: bool,
    spa_fallback: bool,
    etags: Mutex<HashMap<PathBuf, Tag>>,
    /// Floor for `Last-Modified`: an archive's files all carry one fixed mtime, so a new deploy
    /// with changed files would look unchanged to a cache that validates by date only; a
    /// deploy restarts the stub, which moves this floor.
    started: SystemTime,
}

/// A file's ETag and the version of the file it was computed from.
struct Tag {
    version: Version,
    etag: HeaderValue,
}

/// What tells two versions of a file apart without reading it.
#[derive(PartialEq)]
struct Version {
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    inode: u64,
}

/// What a request path names.
enum Lookup {
    /// A regular file inside the root; `rel` is its path below the mount, for the cache policy.
    File {
        path: PathBuf,
        rel: String,
    },
    /// A folder named without a trailing slash.
    Folder {
        has_index: bool,
    },
    Missing {
        rel: String,
    },
    /// A path no file may have (`..`, encoded slashes, NUL): 400.
    Invalid,
    /// Not under the mount.
    Elsewhere,
}

/// File system calls made from async code: moved off the async worker (`block_in_place`) so
/// a slow disk never stalls other connections on that thread; run in place on a
/// current-thread runtime (unit tests), where that is not possible.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl StaticFiles {
    pub fn new(
        dir: &Path,
        mount: Option<&str>,
        mount_optional: bool,
        spa_fallback: bool,
    ) -> anyhow::Result<StaticFiles> {
        let root = std::fs::canonicalize(dir)
            .with_context(|| format!("cannot open the folder {}", dir.display()))?;
        if !root.is_dir() {
            anyhow::bail!("{} is not a folder", dir.display());
        }
        Ok(StaticFiles {
            root,
            mount: mount.map(normalize_mount).unwrap_or_default(),
            mount_optional,
            spa_fallback,
            etags: Mutex::default(),
            started: SystemTime::now(),
        })
    }

    /// Answer as a static site: a file, a redirect, the SPA fallback or an error.
    pub async fn serve(&self, req: &Parts) -> Response<Body> {
        if req.method != Method::GET && req.method != Method::HEAD {
            let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        match blocking(|| self.lookup(req.uri.path())) {
            Lookup::File { path, rel } => self.file(req, &path, &rel).await,
            Lookup::Folder { .. } => redirect_to_folder(req),
            Lookup::Invalid => text(StatusCode::BAD_REQUEST, "Bad Request"),
            Lookup::Missing { rel } if self.spa_fallback && !under_asset_folder(&rel) => {
                match blocking(|| self.lookup_index()) {
                    Some(index) => self.file(req, &index, "index.html").await,
                    None => not_found(),
                }
            }
            Lookup::Missing { .. } | Lookup::Elsewhere => not_found(),
        }
    }

    /// Answer as the front of a process: `None` when the request is not for a file here (the
    /// process answers it).
    pub async fn try_serve(&self, req: &Parts) -> Option<Response<Body>> {
        if req.method != Method::GET && req.method != Method::HEAD {
            return None;
        }
        match blocking(|| self.lookup(req.uri.path())) {
            Lookup::File { path, rel } => Some(self.file(req, &path, &rel).await),
            Lookup::Folder { has_index: true } => Some(redirect_to_folder(req)),
            _ => None,
        }
    }

    fn lookup(&self, path: &str) -> Lookup {
        let rest = match strip_mount(&self.mount, path) {
            Some(rest) => rest,
            None if self.mount_optional => path,
            None => return Lookup::Elsewhere,
        };
        let Some(segments) = segments(rest) else {
            return Lookup::Invalid;
        };
        let rel = segments
            .iter()
            .map(|s| String::from_utf8_lossy(s))
            .collect::<Vec<_>>()
            .join("/");
        let missing = || Lookup::Missing { rel: rel.clone() };
        if segments
            .iter()
            .any(|s| s.starts_with(b".") && s.as_slice() != b".well-known")
        {
            return missing();
        }
        let mut candidate = self.root.clone();
        candidate.extend(segments.iter().map(|s| OsStr::from_bytes(s)));
        let Some(real) = self.confine(&candidate) else {
            return missing();
        };
        let Ok(meta) = std::fs::metadata(&real) else {
            return missing();
        };
        let slash = rest.is_empty() || rest.ends_with('/');
        if meta.is_dir() {
            let index = self
                .confine(&real.join("index.html"))
                .filter(|p| p.is_file());
            return match (index, slash) {
                (Some(path), true) => Lookup::File {
                    rel: join(&rel, "index.html"),
                    path,
                },
                (index, false) => Lookup::Folder {
                    has_index: index.is_some(),
                },
                (None, true) => missing(),
            };
        }
        if meta.is_file() && !slash {
            return Lookup::File { path: real, rel };
        }
        missing()
    }

    fn lookup_index(&self) -> Option<PathBuf> {
        self.confine(&self.root.join("index.html"))
            .filter(|p| p.is_file())
    }

    /// The real path of `path` if it exists and lies inside the root (symlinks resolved).
    fn confine(&self, path: &Path) -> Option<PathBuf> {
        let real = std::fs::canonicalize(path).ok()?;
        real.starts_with(&self.root).then_some(real)
    }

    async fn file(&self, req: &Parts, path: &Path, rel: &str) -> Response<Body> {
        match self.try_file(req, path, rel).await {
            Ok(resp) => resp,
            Err(e) if e.kind() == io::ErrorKind::NotFound => not_found(),
            Err(e) => {
                eprintln!("watt-stub: cannot serve {}: {e}", path.display());
                text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }

    async fn try_file(&self, req: &Parts, path: &Path, rel: &str) -> io::Result<Response<Body>> {
        let ranged = req.headers.contains_key(header::RANGE);
        // Precompressed siblings (`x.js.br`, `x.js.gz`), br first. Ranges of an encoded
        // representation confuse clients that resume downloads: ranged requests get identity.
        let (file, meta, open, coding, variants) = blocking(|| -> io::Result<_> {
            let mut variants = false;
            let mut chosen = None;
            for (coding, ext) in [("br", "br"), ("gzip", "gz")] {
                let mut sibling = path.as_os_str().to_owned();
                sibling.push(".");
                sibling.push(ext);
                if let Some(real) = self.confine(Path::new(&sibling)).filter(|p| p.is_file()) {
                    variants = true;
                    if chosen.is_none() && !ranged && accepts(&req.headers, coding) {
                        chosen = Some((real, coding));
                    }
                }
            }
            let (open, coding) = match chosen {
                Some((p, coding)) => (p, Some(coding)),
                None => (path.to_path_buf(), None),
            };
            let file = std::fs::File::open(&open)?;
            let meta = file.metadata()?;
            Ok((file, meta, open, coding, variants))
        })?;
        let open = open.as_path();
        let len = meta.len();
        let etag = self.etag(open, &meta).await?;
        let modified = meta.modified().unwrap_or(UNIX_EPOCH).max(self.started);
        let modified_secs = unix_secs(modified);

        let mut resp = Response::new(empty());
        let h = resp.headers_mut();
        h.insert(header::ETAG, etag.clone());
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
            h.insert(header::LAST_MODIFIED, v);
        }
        // Judged by the URL path: a folder mounted at `/_next/static` is all hashed files.
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control(&format!("{}/{rel}", self.mount))),
        );
        if variants {
            h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }

        // RFC 9110 §13.2.2: If-None-Match, when present, decides alone.
        let not_modified = match req.headers.get(header::IF_NONE_MATCH) {
            Some(inm) => etag_listed(inm, &etag),
            None => req
                .headers
                .get(header::IF_MODIFIED_SINCE)
                .and_then(|v| httpdate::parse_http_date(v.to_str().ok()?).ok())
                .is_some_and(|since| modified_secs <= unix_secs(since)),
        };
        if not_modified {
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            return Ok(resp);
        }

        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, content_type(rel));
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Some(coding) = coding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        let mut range = None;
        if req.method == Method::GET && if_range_holds(&req.headers, &etag, modified_secs) {
            if let Some(spec) = req.headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
                match parse_range(spec, len) {
                    Range::Full => {}
                    Range::Part(start, end) => range = Some((start, end)),
                    Range::Unsatisfiable => {
                        *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
                        let h = resp.headers_mut();
                        h.remove(header::CONTENT_TYPE);
                        insert(h, header::CONTENT_RANGE, format!("bytes */{len}"));
                        insert(h, header::CONTENT_LENGTH, "0".into());
                        return Ok(resp);
                    }
                }
            }
        }
        let (start, count) = match range {
            Some((start, end)) => {
                *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
                let cr = format!("bytes {start}-{end}/{len}");
                insert(resp.headers_mut(), header::CONTENT_RANGE, cr);
                (start, end - start + 1)
            }
            None => (0, len),
        };
        insert(
            resp.headers_mut(),
            header::CONTENT_LENGTH,
            count.to_string(),
        );
        if req.method == Method::GET && count > 0 {
            let mut file = tokio::fs::File::from_std(file);
            if start > 0 {
                file.seek(io::SeekFrom::Start(start)).await?;
            }
            *resp.body_mut() = FileBody::new(file, count).boxed();
        }
        Ok(resp)
    }

    /// The file's strong ETag, hashed once per version of the file. The version is more than
    /// length and mtime, which an extracted archive sets to one fixed date: the inode and ctime
    /// (set by the extraction, whatever the archive says) change when a file is replaced.
    async fn etag(&self, path: &Path, meta: &std::fs::Metadata) -> io::Result<HeaderValue> {
        let version = Version {
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
        };
        {
            let cache = self.etags.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(tag) = cache.get(path).filter(|t| t.version == version) {
                return Ok(tag.etag.clone());
            }
        }
        let owned = path.to_path_buf();
        let digest = tokio::task::spawn_blocking(move || hash_file(&owned))
            .await
            .map_err(io::Error::other)??;
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let etag = HeaderValue::from_str(&format!("\"{hex}\"")).map_err(io::Error::other)?;
        let mut cache = self.etags.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(
            path.to_path_buf(),
            Tag {
                version,
                etag: etag.clone(),
            },
        );
        Ok(etag)
    }
}

fn hash_file(path: &Path) -> io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(hasher.finalize().into()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn insert(h: &mut HeaderMap, name: header::HeaderName, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert(name, v);
    }
}

fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "Not Found")
}

/// `/dir` → `/dir/`, query kept. Leading slashes collapse to one, so `//evil.example` cannot
/// become a protocol-relative redirect.
fn redirect_to_folder(req: &Parts) -> Response<Body> {
    let mut location = format!("/{}/", req.uri.path().trim_start_matches('/'));
    if let Some(q) = req.uri.query() {
        location.push('?');
        location.push_str(q);
    }
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    insert(resp.headers_mut(), header::LOCATION, location);
    resp
}

/// `/shop/`, `shop`, `/` → `/shop`, `/shop`, ``.
fn normalize_mount(m: &str) -> String {
    let m = m.trim_matches('/');
    if m.is_empty() {
        String::new()
    } else {
        format!("/{m}")
    }
}

/// What follows the mount in `path`, on a segment boundary.
fn strip_mount<'a>(mount: &str, path: &'a str) -> Option<&'a str> {
    super::gateway::strip_prefix(mount, path)
}

/// The decoded segments of a request path, `None` when it names something no file may be.
/// Decoded exactly once: `%252e%252e` is a file literally named `%2e%2e`.
fn segments(path: &str) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for raw in path.split('/') {
        let seg: Vec<u8> = percent_decode_str(raw).collect();
        if seg.iter().any(|&c| c == b'/' || c == b'\\' || c == 0) || seg == b".." {
            return None;
        }
        if !seg.is_empty() && seg != b"." {
            out.push(seg);
        }
    }
    Some(out)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

pub fn content_type(rel: &str) -> HeaderValue {
    let Some(mime) = mime_guess::from_path(rel).first_raw() else {
        return HeaderValue::from_static("application/octet-stream");
    };
    let texty = mime.starts_with("text/")
        || matches!(
            mime,
            "application/javascript"
                | "application/json"
                | "application/manifest+json"
                | "application/xml"
                | "image/svg+xml"
        );
    let value = if texty {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

pub fn cache_control(rel: &str) -> &'static str {
    if immutable(rel) {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

/// Whether a file's name changes whenever its content does (a build tool put a content hash in
/// it), so caches may keep it forever. `rel` is the path below the site's root.
pub fn immutable(rel: &str) -> bool {
    let segs: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    let Some((name, dirs)) = segs.split_last() else {
        return false;
    };
    // Folders whose files are all hashed by their framework.
    if dirs.contains(&"_astro") || dirs.windows(2).any(|w| w == ["_next", "static"]) {
        return true;
    }
    // Vite's `assets/[name]-[hash][ext]`; its hash is 8 base64url characters, `-`/`_` included.
    if dirs.contains(&"assets") && vite_hashed(name) {
        return true;
    }
    let stem = name.rsplit_once('.').map_or(*name, |(stem, _)| stem);
    stem.split(['.', '-']).any(hash_like)
}

fn vite_hashed(name: &str) -> bool {
    let Some((stem, _ext)) = name.rsplit_once('.') else {
        return false;
    };
    let b = stem.as_bytes();
    if b.len() < 10 || b[b.len() - 9] != b'-' {
        return false;
    }
    let hash = &b[b.len() - 8..];
    hash.iter()
        .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        // A word (`header-homepage.png`) is not a hash.
        && hash.iter().any(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// A hash in a file name: 8+ letters and digits, mixed the way only random strings are
/// (`BQ4x7Zk2`, `5f3a9c1e`), not the way words and versions are (`html2canvas`, `bootstrap5`,
/// `1920x1080`).
fn hash_like(seg: &str) -> bool {
    let b = seg.as_bytes();
    if b.len() < 8 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    if !b.iter().any(u8::is_ascii_digit) || !b.iter().any(u8::is_ascii_alphabetic) {
        return false;
    }
    let class = |c: &u8| match c {
        b'0'..=b'9' => 0,
        b'a'..=b'z' => 1,
        _ => 2,
    };
    let changes = b
        .windows(2)
        .filter(|w| class(&w[0]) != class(&w[1]))
        .count();
    changes >= 4
}

/// Whether the request accepts `coding` (q > 0), explicitly or through `*`.
fn accepts(h: &HeaderMap, coding: &str) -> bool {
    let mut star = false;
    for item in h
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let named = name.eq_ignore_ascii_case(coding)
            || (coding == "gzip" && name.eq_ignore_ascii_case("x-gzip"));
        if named {
            return q > 0.0;
        }
        if name == "*" {
            star = q > 0.0;
        }
    }
    star
}

/// If-None-Match uses the weak comparison: `W/"x"` matches `"x"`.
fn etag_listed(header: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(list) = header.to_str() else {
        return false;
    };
    let ours = etag.as_bytes();
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t).as_bytes() == ours)
}

/// If-Range: the range applies only to the representation the client already has part of
/// (strong ETag comparison, or the exact Last-Modified date).
fn if_range_holds(h: &HeaderMap, etag: &HeaderValue, modified_secs: u64) -> bool {
    let Some(v) = h.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let v = v.trim();
    if v.starts_with('"') {
        return v.as_bytes() == etag.as_bytes();
    }
    httpdate::parse_http_date(v).is_ok_and(|d| unix_secs(d) == modified_secs)
}

#[derive(Debug, PartialEq)]
pub enum Range {
    /// No usable range: the whole file, 200 (malformed, other units, several ranges).
    Full,
    /// First and last byte, inclusive.
    Part(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range: `a-b`, `a-`, `-n`.
pub fn parse_range(spec: &str, len: u64) -> Range {
    let Some(set) = spec.trim().strip_prefix("bytes=") else {
        return Range::Full;
    };
    if set.contains(',') {
        return Range::Full;
    }
    let Some((a, b)) = set.trim().split_once('-') else {
        return Range::Full;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim().is_empty(), num(a), num(b)) {
        // `-n`: the last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || len == 0 {
                Range::Unsatisfiable
            } else {
                Range::Part(len - n.min(len), len - 1)
            }
        }
        (false, Some(start), end) if b.trim().is_empty() || end.is_some() => {
            if end.is_some_and(|e| e < start) {
                return Range::Full;
            }
            if start >= len {
                return Range::Unsatisfiable;
            }
            Range::Part(start, end.map_or(len - 1, |e| e.min(len - 1)))
        }
        _ => Range::Full,
    }
}

/// A file streamed in chunks, `remaining` bytes from where it stands.
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buf: Box<[u8]>,
}

impl FileBody {
    fn new(file: tokio::fs::File, len: u64) -> FileBody {
        let size = usize::try_from(len).unwrap_or(CHUNK).min(CHUNK);
        FileBody {
            file,
            remaining: len,
            buf: vec![0u8; size].into_boxed_slice(),
        }
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.remaining)
            .unwrap_or(usize::MAX)
            .min(this.buf.len());
        let mut rb = ReadBuf::new(&mut this.buf[..want]);
        match Pin::new(&mut this.file).poll_read(cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Ok(())) if rb.filled().is_empty() => {
                Poll::Ready(Some(Err("the file shrank while it was being sent".into())))
            }
            Poll::Ready(Ok(())) => {
                this.remaining -= rb.filled().len() as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(rb.filled())))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Paths whose files are hashed build output: a missing one is a stale reference (an old page
/// asking for last deploy's chunk), and answering it with index.html would hand HTML to a
/// script or style loader.
fn under_asset_folder(rel: &str) -> bool {
    let dirs: Vec<&str> = rel.split('/').collect();
    let dirs = &dirs[..dirs.len().saturating_sub(1)];
    dirs.iter().any(|d| *d == "assets" || *d == "_astro")
        || dirs.windows(2).any(|w| w == ["_next", "static"])
}

#[cfg(test)]
mod tests;
