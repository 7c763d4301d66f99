//! What makes a Next.js build the same wherever and whenever it runs:
//!
//! - the build id (`.next/BUILD_ID`, random by default) is a hash of the build's inputs
//!   ([`build_id`]), given to Next as the default `generateBuildId` (the app's own wins);
//! - the standalone `server.js` and `required-server-files.json` record the build machine's
//!   folders (`outputFileTracingRoot`, `turbopack.root`, `repoRoot`, `appDir`). They are
//!   rewritten relative to the server's folder ([`without_host_paths`]): the standalone server
//!   `chdir`s there and Next resolves a relative `outputFileTracingRoot`/`turbopack.root`
//!   against it (`assignDefaultsAndValidate` in next/dist/server/config.js) and recomputes
//!   `repoRoot` at start, so the app boots exactly as before;
//! - the route maps `server/pages-manifest.json` and `server/app-paths-manifest.json` list
//!   routes in the order webpack finished compiling them, which varies from run to run. Next
//!   only looks routes up in them (its route matchers sort dynamic routes themselves,
//!   `getSortedRoutes` in next/dist/shared/lib/router/utils/sorted-routes.js), so they ship
//!   with their keys sorted ([`sorted_route_map`]);
//! - Next's preview-mode and server-actions keys are random unless a secret is given
//!   (`NEXT_SERVER_ACTIONS_ENCRYPTION_KEY`; see the build hook).

use std::path::Path;

use anyhow::Result;

use super::input_hash;

/// A hash of what the build reads (see [`input_hash::build_id`]): the service's files but
/// Next's output, the lockfile, the installed `next` and the base path. 20 hex characters.
pub fn build_id(svc_dir: &Path, base_path: &str) -> Result<String> {
    input_hash::build_id(svc_dir, base_path, "next", &[".next", ".turbo", "out"])
}

/// `text` with every JSON string that is `root` or a path below it replaced by that path
/// relative to `from` (`.` for `from` itself); `None` when there was none. Only whole path
/// components match (`/a/app` does not match `/a/app2`).
pub fn without_host_paths(text: &str, root: &Path, from: &Path) -> Option<String> {
    let root_str = root.to_str()?.trim_end_matches('/');
    if root_str.is_empty() {
        return None;
    }
    let needle = format!("\"{root_str}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find(&needle) {
        let after = &rest[at + needle.len()..];
        let whole = after.starts_with('"') || after.starts_with('/');
        let end = after.find('"');
        match (whole, end) {
            (true, Some(end)) => {
                let abs = format!("{root_str}{}", &after[..end]);
                let rel = crate::paths::relative(from, Path::new(&abs))
                    .to_string_lossy()
                    .into_owned();
                out.push_str(&rest[..at]);
                out.push('"');
                out.push_str(&rel);
                out.push('"');
                rest = &after[end + 1..];
                changed = true;
            }
            _ => {
                out.push_str(&rest[..at + needle.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Next's route maps whose key order is the compiler's finishing order.
pub const ROUTE_MAPS: &[&str] = &[
    "server/pages-manifest.json",
    "server/app-paths-manifest.json",
];

/// `text` (a JSON object) with its keys sorted, pretty-printed as Next writes it; `None` when
/// it is not an object or was sorted already.
pub fn sorted_route_map(text: &str) -> Option<String> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).ok()?;
    if map.keys().is_sorted() {
        return None;
    }
    let sorted: std::collections::BTreeMap<_, _> = map.into_iter().collect();
    serde_json::to_string_pretty(&sorted).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_maps_ship_in_one_order_whatever_order_webpack_wrote() {
        let a =
            r#"{"/_app":"pages/_app.js","/":"pages/index.js","/_document":"pages/_document.js"}"#;
        let b =
            r#"{"/_document":"pages/_document.js","/_app":"pages/_app.js","/":"pages/index.js"}"#;
        let (a, b) = (sorted_route_map(a).unwrap(), sorted_route_map(b).unwrap());
        assert_eq!(a, b);
        assert!(a.find("\"/\"").unwrap() < a.find("\"/_app\"").unwrap());
        assert_eq!(sorted_route_map(&a), None, "sorted already");
        assert_eq!(sorted_route_map("[1]"), None);
    }

    #[test]
    fn host_paths_become_relative_to_the_server_folder() {
        let root = Path::new("/build/app");
        let from = Path::new("/build/app/web/shop");
        let text = r#"const nextConfig = {"outputFileTracingRoot":"/build/app","turbopack":{"root":"/build/app"},"x":"/build/app2/y","appDir":"/build/app/web/shop","d":"/build/app/web/shop/.next"}"#;
        let got = without_host_paths(text, root, from).unwrap();
        assert_eq!(
            got,
            r#"const nextConfig = {"outputFileTracingRoot":"../..","turbopack":{"root":"../.."},"x":"/build/app2/y","appDir":".","d":".next"}"#
        );
        assert_eq!(without_host_paths("{\"a\":\"/else\"}", root, from), None);
    }

    #[test]
    fn the_build_id_follows_the_inputs_not_the_folder_or_the_clock() {
        let d = tempfile::tempdir().unwrap();
        let make = |dir: &Path| {
            std::fs::create_dir_all(dir.join("app")).unwrap();
            std::fs::create_dir_all(dir.join(".next/cache")).unwrap();
            std::fs::write(dir.join("app/page.js"), "export default 1").unwrap();
            std::fs::write(dir.join(".next/cache/x"), std::process::id().to_string()).unwrap();
        };
        let (a, b) = (d.path().join("a/shop"), d.path().join("elsewhere/b/shop"));
        make(&a);
        std::thread::sleep(std::time::Duration::from_millis(20));
        make(&b);
        std::fs::write(b.join(".next/cache/x"), "different cache").unwrap();
        let id = build_id(&a, "").unwrap();
        assert_eq!(id.len(), 20);
        assert_eq!(id, build_id(&b, "").unwrap());
        assert_ne!(id, build_id(&a, "/shop").unwrap());
        std::fs::write(b.join("app/page.js"), "export default 2").unwrap();
        assert_ne!(id, build_id(&b, "").unwrap());
    }
}
