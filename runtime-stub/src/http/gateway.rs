//! Watt's gateway: which service a request goes to, and with which path. The packer resolved
//! Watt's prefix rules into explicit routes; here they are only matched and applied.

use anyhow::{bail, Result};
use hyper::Uri;
use watt_manifest::GatewayRoute;

pub struct Gateway {
    /// Longest prefix first, so the first match is the most specific one.
    routes: Vec<Route>,
}

struct Route {
    prefix: String,
    rewrite: String,
    target: usize,
}

impl Gateway {
    /// `index` maps a service id to its index; `me` is the gateway's own index.
    pub fn new(
        me: usize,
        routes: &[GatewayRoute],
        index: impl Fn(&str) -> Option<usize>,
    ) -> Result<Gateway> {
        let mut out = Vec::new();
        for r in routes {
            let Some(target) = index(&r.service) else {
                bail!("routes to {:?}, which is not a service", r.service);
            };
            if target == me {
                bail!("routes {:?} to itself", r.prefix);
            }
            for p in [&r.prefix, &r.rewrite_prefix] {
                if !(p.is_empty() || p.starts_with('/') && !p.ends_with('/')) {
                    bail!("route prefix {p:?} must be empty or start with / and not end with /");
                }
            }
            out.push(Route {
                prefix: r.prefix.clone(),
                rewrite: r.rewrite_prefix.clone(),
                target,
            });
        }
        // The manifest lists them longest first already; a stable sort keeps that promise even
        // for a hand-written manifest.
        out.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(Gateway { routes: out })
    }

    /// The target's index and the request target to send it (origin form, query kept).
    pub fn route(&self, uri: &Uri) -> Option<(usize, Uri)> {
        let path = uri.path();
        self.routes.iter().find_map(|r| {
            let rest = strip_prefix(&r.prefix, path)?;
            let target = rewrite(&r.rewrite, rest, uri.query());
            Some((r.target, target.parse().ok()?))
        })
    }
}

/// What follows `prefix` in `path` when `prefix` matches on a segment boundary: `/api` matches
/// `/api`, `/api/` and `/api/x`, never `/apix`; the empty prefix matches everything.
pub fn strip_prefix<'a>(prefix: &str, path: &'a str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// `rewrite` + `rest`, never empty, with the query.
pub fn rewrite(rewrite: &str, rest: &str, query: Option<&str>) -> String {
    let mut out = format!("{rewrite}{rest}");
    if out.is_empty() {
        out.push('/');
    }
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gw(routes: &[(&str, &str, &str)]) -> Gateway {
        let ids = ["gw", "api", "web", "docs"];
        let routes: Vec<GatewayRoute> = routes
            .iter()
            .map(|(prefix, service, rewrite)| GatewayRoute {
                prefix: prefix.to_string(),
                service: service.to_string(),
                rewrite_prefix: rewrite.to_string(),
            })
            .collect();
        Gateway::new(0, &routes, |id| ids.iter().position(|&i| i == id)).unwrap()
    }

    fn route(g: &Gateway, uri: &str) -> Option<(usize, String)> {
        let uri: Uri = uri.parse().unwrap();
        g.route(&uri).map(|(t, u)| (t, u.to_string()))
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        for (prefix, path, want) in [
            ("/api", "/api", Some("")),
            ("/api", "/api/", Some("/")),
            ("/api", "/api/x/y", Some("/x/y")),
            ("/api", "/apix", None),
            ("/api", "/ap", None),
            ("/api", "/", None),
            ("/a/b", "/a/b/c", Some("/c")),
            ("/a/b", "/a/bc", None),
            ("", "/", Some("/")),
            ("", "/anything", Some("/anything")),
        ] {
            assert_eq!(strip_prefix(prefix, path), want, "{prefix} {path}");
        }
    }

    #[test]
    fn routes_rewrite_and_keep_the_query() {
        let g = gw(&[
            ("/api", "api", ""),
            ("/shop", "web", "/shop"),
            ("/docs", "docs", "/v2"),
            ("", "web", ""),
        ]);
        for (uri, want) in [
            ("/api", Some((1, "/"))),
            ("/api?q=1", Some((1, "/?q=1"))),
            ("/api/", Some((1, "/"))),
            ("/api/users/1?x=%2F", Some((1, "/users/1?x=%2F"))),
            ("/apix", Some((2, "/apix"))),
            ("/shop", Some((2, "/shop"))),
            ("/shop/", Some((2, "/shop/"))),
            ("/shop/assets/a.js", Some((2, "/shop/assets/a.js"))),
            ("/docs/x", Some((3, "/v2/x"))),
            ("/docs", Some((3, "/v2"))),
            ("/", Some((2, "/"))),
        ] {
            let got = route(&g, uri);
            let want = want.map(|(t, u)| (t, u.to_string()));
            assert_eq!(got, want, "{uri}");
        }
    }

    #[test]
    fn the_longest_prefix_wins_and_no_match_is_none() {
        // Given shortest first on purpose.
        let g = gw(&[("/api", "api", ""), ("/api/v2", "docs", "")]);
        assert_eq!(route(&g, "/api/v2/x"), Some((3, "/x".into())));
        assert_eq!(route(&g, "/api/v1"), Some((1, "/v1".into())));
        assert_eq!(route(&g, "/other"), None);
    }

    #[test]
    fn bad_routes_are_explained() {
        let ids = ["gw", "api"];
        let index = |id: &str| ids.iter().position(|&i| i == id);
        let r = |prefix: &str, service: &str| GatewayRoute {
            prefix: prefix.into(),
            service: service.into(),
            rewrite_prefix: String::new(),
        };
        let err = |routes: &[GatewayRoute]| {
            Gateway::new(0, routes, index)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err(&[r("/x", "nope")]).contains("not a service"));
        assert!(err(&[r("/x", "gw")]).contains("itself"));
        assert!(err(&[r("/x/", "api")]).contains("must be empty"));
        assert!(err(&[r("x", "api")]).contains("must be empty"));
    }
}
