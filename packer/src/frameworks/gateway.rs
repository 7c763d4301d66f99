//! Watt's gateway (`@platformatic/gateway`, formerly `@platformatic/composer`): a reverse proxy
//! the stub serves natively. The packer turns the config into explicit routes with Watt's
//! prefix rules (packages/gateway/lib/proxy.js and each capability's `getMeta()`, wattpm 3.67):
//!
//! - `prefix` = `proxy.prefix`, else the target's own prefix (its base path; `""`, i.e. the
//!   root, for Next/Astro/Vite/Remix/React Router apps without one), else `/<id>`;
//! - `rewritePrefix` = `proxy.rewritePrefix`, else — for apps built for absolute URLs — the
//!   target's own prefix (else `/<id>`), else `""`: such apps get the path they were built for;
//! - `proxy: false` hides a service; an empty list exposes every other service at `/<id>`.
//!
//! A config that asks for more than routing (OpenAPI/GraphQL composition, plugins, server
//! options such as `healthCheck`, applications outside the app: see
//! `config::gateway_beyond_routing`) runs through `@platformatic/gateway` itself instead.

use anyhow::{bail, Result};
use serde_json::Value;
use watt_manifest::{GatewayMeta, GatewayRoute};

use super::{capability, normalize_prefix, Framework, Package, StartPlan};
use crate::config::{gateway_beyond_routing, Kind, ResolvedApp, ResolvedService};

pub struct Gateway;

impl Framework for Gateway {
    fn name(&self) -> &'static str {
        "gateway"
    }

    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::Gateway
    }

    fn package(&self, svc: &ResolvedService, app: &ResolvedApp) -> Result<Package> {
        let features = svc.config.as_object().and_then(gateway_beyond_routing);
        if let Some(feature) = features {
            return capability::package(
                svc,
                &["@platformatic/gateway", "@platformatic/composer"],
                format!("{feature} goes beyond prefix routing"),
                composed(svc, app),
            );
        }
        Ok(Package {
            ship: Vec::new(),
            ship_verbatim: Vec::new(),
            ship_as: Vec::new(),
            extra_dependencies: Vec::new(),
            ship_dependencies: false,
            start: StartPlan::Gateway {
                routes: routes(svc, app)?,
            },
            static_assets: None,
        })
    }
}

/// The services of the app the gateway composes (it fetches their OpenAPI/GraphQL schemas
/// when it starts, so they start first, as Watt's `GatewayCapability.getDependencies()` says):
/// every entry without an origin or with a mesh one; with no list, every other service.
fn composed(gw: &ResolvedService, app: &ResolvedApp) -> Vec<String> {
    let list = gw
        .config
        .pointer("/gateway/applications")
        .or_else(|| gw.config.pointer("/composer/services"))
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty());
    let ids: Vec<String> = match list {
        Some(l) => l
            .iter()
            .filter(|e| {
                e.get("origin")
                    .and_then(Value::as_str)
                    .is_none_or(|o| o.contains(".plt.local"))
            })
            .filter_map(|e| e.get("id").and_then(Value::as_str).map(str::to_string))
            .collect(),
        None => app.services.iter().map(|s| s.id.clone()).collect(),
    };
    ids.into_iter()
        .filter(|id| *id != gw.id && app.services.iter().any(|s| s.id == *id))
        .collect()
}

/// The routes, longest prefix first (the stub matches in this order).
pub fn routes(gw: &ResolvedService, app: &ResolvedApp) -> Result<Vec<GatewayRoute>> {
    // v3 `gateway.applications`, v2 `composer.services`.
    let list = gw
        .config
        .pointer("/gateway/applications")
        .or_else(|| gw.config.pointer("/composer/services"))
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty());
    let entries: Vec<Value> = match list {
        Some(l) => l.clone(),
        None => app
            .services
            .iter()
            .filter(|s| s.id != gw.id)
            .map(|s| serde_json::json!({ "id": s.id, "proxy": { "prefix": format!("/{}", s.id) } }))
            .collect(),
    };
    let mut routes = Vec::new();
    for entry in &entries {
        let Some(id) = entry.get("id").and_then(Value::as_str) else {
            bail!(
                "gateway \"{}\": an entry of its applications list has no `id`: {entry}",
                gw.id
            );
        };
        let proxy = entry.get("proxy");
        if proxy == Some(&Value::Bool(false)) {
            continue;
        }
        if let Some(origin) = entry.get("origin").and_then(Value::as_str) {
            if !origin.contains(".plt.local") {
                bail!(
                    "gateway \"{}\": application \"{id}\" has origin {origin}; proxying to services \
                     outside the app is not supported yet",
                    gw.id
                );
            }
        }
        let Some(target) = app.services.iter().find(|s| s.id == id) else {
            let known: Vec<_> = app.services.iter().map(|s| s.id.as_str()).collect();
            bail!(
                "gateway \"{}\" routes to \"{id}\", which is not a service of this app (services: {})",
                gw.id,
                known.join(", ")
            );
        };
        let own = own_prefix(target);
        let prefix = proxy
            .and_then(|p| p.get("prefix"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| own.clone())
            .unwrap_or_else(|| id.to_string());
        let rewrite = match proxy
            .and_then(|p| p.get("rewritePrefix"))
            .and_then(Value::as_str)
        {
            Some(r) => r.to_string(),
            None if wants_absolute_urls(target) => own.unwrap_or_else(|| id.to_string()),
            None => String::new(),
        };
        routes.push(GatewayRoute {
            prefix: normalize_prefix(&prefix),
            service: id.to_string(),
            rewrite_prefix: normalize_prefix(&rewrite),
        });
    }
    routes.sort_by(|a, b| {
        b.prefix
            .len()
            .cmp(&a.prefix.len())
            .then(a.prefix.cmp(&b.prefix))
    });
    if let Some(w) = routes.windows(2).find(|w| w[0].prefix == w[1].prefix) {
        bail!(
            "gateway \"{}\" routes the prefix \"{}\" to both \"{}\" and \"{}\"; give one a different proxy.prefix",
            gw.id,
            display(&w[0].prefix),
            w[0].service,
            w[1].service
        );
    }
    Ok(routes)
}

/// What Watt's `getMeta().gateway.prefix` says for the target (packages/<kind>/lib/capability.js).
fn own_prefix(s: &ResolvedService) -> Option<String> {
    let base = s.application.base_path.clone();
    match s.kind {
        Kind::Next | Kind::Astro | Kind::Vite | Kind::Remix | Kind::ReactRouter => {
            Some(base.unwrap_or_default())
        }
        _ if registers_base_path(s.kind) => base,
        _ => None,
    }
}

/// The kinds whose capability gives a gateway the base path it registered,
/// `ensureTrailingSlash(cleanBasePath(…))`, or no prefix without one: node, Nitro, Nuxt,
/// Nest (its `#basePath`, packages/nest/lib/capability.js) and TanStack (whose production
/// `getMeta` is Vite's without a dev server: no `config.base`).
fn registers_base_path(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Node | Kind::Nitro | Kind::Nuxt | Kind::Tanstack | Kind::Nest
    )
}

/// The service's `getMeta().gateway` (packages/<kind>/lib/capability.js, wattpm 3.67), which Watt's
/// runtime hands a gateway run through its own package (`getApplicationMeta`): the same rules
/// as the native routes above. The kinds whose capability registers
/// `ensureTrailingSlash(cleanBasePath(…))` give their prefix with a trailing slash, as there.
pub fn meta(s: &ResolvedService) -> GatewayMeta {
    let prefix = own_prefix(s).map(|p| {
        let p = normalize_prefix(&p);
        if registers_base_path(s.kind) && !p.is_empty() {
            format!("{p}/")
        } else {
            p
        }
    });
    GatewayMeta {
        prefix,
        wants_absolute_urls: wants_absolute_urls(s),
        needs_root_trailing_slash: matches!(
            s.kind,
            Kind::Node
                | Kind::Astro
                | Kind::Vite
                | Kind::Remix
                | Kind::ReactRouter
                | Kind::Tanstack
        ),
    }
}

fn wants_absolute_urls(s: &ResolvedService) -> bool {
    match s.kind {
        Kind::Next
        | Kind::Astro
        | Kind::Vite
        | Kind::Remix
        | Kind::ReactRouter
        | Kind::Tanstack => true,
        Kind::Node => s.node.absolute_url,
        // Nitro, Nuxt and Nest: `wantsAbsoluteUrls: !!hasBasePath`.
        Kind::Nitro | Kind::Nuxt | Kind::Nest => s.application.base_path.is_some(),
        _ => false,
    }
}

fn display(prefix: &str) -> &str {
    if prefix.is_empty() {
        "/"
    } else {
        prefix
    }
}

#[cfg(test)]
mod tests {
    use super::super::output::testing;
    use super::*;
    use crate::config::{GracefulShutdownConfig, ServerConfig};
    use serde_json::json;
    use std::path::{Path, PathBuf};

    fn svc(id: &str, kind: Kind, base: Option<&str>, config: Value) -> ResolvedService {
        let mut s = testing::service(Path::new(&format!("/app/web/{id}")), kind);
        s.id = id.into();
        s.config = config;
        s.package_json = Value::Null;
        s.application.base_path = base.map(str::to_string);
        s
    }

    fn app(services: Vec<ResolvedService>) -> ResolvedApp {
        ResolvedApp {
            config_file: PathBuf::from("/app/watt.json"),
            root: PathBuf::from("/app"),
            name: "t".into(),
            entrypoint: "gw".into(),
            entrypoint_reason: crate::config::EntrypointReason::Explicit,
            server: ServerConfig::default(),
            graceful_shutdown: GracefulShutdownConfig::default(),
            supervision: Default::default(),
            dotenv: Default::default(),
            services,
            warnings: Vec::new(),
        }
    }

    fn table(gw_config: Value, others: Vec<ResolvedService>) -> Vec<(String, String, String)> {
        let gw = svc("gw", Kind::Gateway, None, gw_config);
        let mut all = vec![gw.clone()];
        all.extend(others);
        routes(&gw, &app(all))
            .unwrap()
            .into_iter()
            .map(|r| (r.prefix, r.service, r.rewrite_prefix))
            .collect()
    }

    fn r(p: &str, s: &str, w: &str) -> (String, String, String) {
        (p.into(), s.into(), w.into())
    }

    /// (name, gateway config, other services, expected (prefix, service, rewritePrefix)).
    type Case = (
        &'static str,
        Value,
        Vec<ResolvedService>,
        Vec<(String, String, String)>,
    );

    #[test]
    fn prefix_rules_follow_watt() {
        let cases: Vec<Case> = vec![
            (
                "explicit prefixes, sorted longest first; APIs are stripped",
                json!({"gateway": {"applications": [{"id": "web", "proxy": {"prefix": "/"}}, {"id": "api", "proxy": {"prefix": "/api/"}}]}}),
                vec![
                    svc("web", Kind::Next, None, Value::Null),
                    svc("api", Kind::Service, None, Value::Null),
                ],
                vec![r("/api", "api", ""), r("", "web", "")],
            ),
            (
                "no proxy block: the id for services, the base path (or root) for frameworks",
                json!({"gateway": {"applications": [{"id": "api"}, {"id": "site"}, {"id": "shop"}]}}),
                vec![
                    svc("api", Kind::Node, None, Value::Null),
                    svc("site", Kind::Astro, None, Value::Null),
                    svc("shop", Kind::Vite, Some("/shop/"), Value::Null),
                ],
                vec![
                    r("/shop", "shop", "/shop"),
                    r("/api", "api", ""),
                    r("", "site", ""),
                ],
            ),
            (
                "absolute-URL app under an explicit prefix is forwarded with its own base path",
                json!({"gateway": {"applications": [{"id": "app", "proxy": {"prefix": "/app"}}]}}),
                vec![svc("app", Kind::ReactRouter, Some("/app"), Value::Null)],
                vec![r("/app", "app", "/app")],
            ),
            (
                "absolute-URL app without a base path under a prefix: stripped, as in Watt",
                json!({"gateway": {"applications": [{"id": "next", "proxy": {"prefix": "/next"}}]}}),
                vec![svc("next", Kind::Next, None, Value::Null)],
                vec![r("/next", "next", "")],
            ),
            (
                "rewritePrefix wins; proxy:false hides; node absoluteUrl keeps its base path",
                json!({"gateway": {"applications": [
                    {"id": "a", "proxy": {"prefix": "/x", "rewritePrefix": "/v1/"}},
                    {"id": "b", "proxy": false},
                    {"id": "c"}
                ]}}),
                vec![
                    svc("a", Kind::Service, None, Value::Null),
                    svc("b", Kind::Service, None, Value::Null),
                    {
                        let mut c = svc("c", Kind::Node, Some("/c-base"), Value::Null);
                        c.node.absolute_url = true;
                        c
                    },
                ],
                vec![r("/c-base", "c", "/c-base"), r("/x", "a", "/v1")],
            ),
            (
                "nitro, nuxt and nest keep a base path and are stripped without one",
                json!({"gateway": {"applications": [{"id": "shop"}, {"id": "blog"}, {"id": "api"}, {"id": "nest"}, {"id": "n2"}]}}),
                vec![
                    svc("shop", Kind::Nuxt, Some("/shop"), Value::Null),
                    svc("blog", Kind::Nuxt, None, Value::Null),
                    svc("api", Kind::Nitro, Some("/v1"), Value::Null),
                    svc("nest", Kind::Nest, Some("/orders"), Value::Null),
                    svc("n2", Kind::Nest, None, Value::Null),
                ],
                vec![
                    r("/orders", "nest", "/orders"),
                    r("/blog", "blog", ""),
                    r("/shop", "shop", "/shop"),
                    r("/n2", "n2", ""),
                    r("/v1", "api", "/v1"),
                ],
            ),
            (
                "empty list: every other service at /<id>, v2 composer spelling too",
                json!({"composer": {"services": []}}),
                vec![
                    svc("api", Kind::Service, None, Value::Null),
                    svc("web", Kind::Vite, None, Value::Null),
                ],
                vec![r("/api", "api", ""), r("/web", "web", "")],
            ),
            (
                "v2 composer.services list",
                json!({"composer": {"services": [{"id": "api", "proxy": {"prefix": "/v2"}}]}}),
                vec![svc("api", Kind::Service, None, Value::Null)],
                vec![r("/v2", "api", "")],
            ),
        ];
        for (name, config, others, want) in cases {
            assert_eq!(table(config, others), want, "{name}");
        }
    }

    #[test]
    fn each_service_carries_the_meta_its_capability_gives_a_gateway() {
        let meta = |s: &ResolvedService| {
            let m = super::meta(s);
            (m.prefix, m.wants_absolute_urls, m.needs_root_trailing_slash)
        };
        let mut node = svc("n", Kind::Node, Some("/abs"), Value::Null);
        node.node.absolute_url = true;
        for (s, want) in [
            (
                svc("next", Kind::Next, Some("/next/"), Value::Null),
                (Some("/next".to_string()), true, false),
            ),
            (
                svc("next", Kind::Next, None, Value::Null),
                (Some(String::new()), true, false),
            ),
            (
                svc("v", Kind::Vite, Some("/shop"), Value::Null),
                (Some("/shop".to_string()), true, true),
            ),
            (node, (Some("/abs/".to_string()), true, true)),
            (
                svc("api", Kind::Node, None, Value::Null),
                (None, false, true),
            ),
            (
                svc("blog", Kind::Nuxt, None, Value::Null),
                (None, false, false),
            ),
            (svc("db", Kind::Db, None, Value::Null), (None, false, false)),
            (
                svc("nest", Kind::Nest, Some("/orders"), Value::Null),
                (Some("/orders/".to_string()), true, false),
            ),
            (
                svc("nest", Kind::Nest, None, Value::Null),
                (None, false, false),
            ),
        ] {
            assert_eq!(meta(&s), want, "{} ({:?})", s.id, s.kind);
        }
    }

    #[test]
    fn only_routing_configs_stay_native_the_rest_runs_platformatic_gateway() {
        let dir = tempfile::tempdir().unwrap();
        let mut gw = testing::service(dir.path(), Kind::Gateway);
        gw.id = "gw".into();
        gw.config_file = Some(dir.path().join("platformatic.json"));
        gw.config =
            json!({"gateway": {"applications": [{"id": "api", "proxy": {"prefix": "/api"}}]}});
        let all = app(vec![
            gw.clone(),
            svc("api", Kind::Service, None, Value::Null),
        ]);
        let p = Gateway.package(&gw, &all).unwrap();
        assert!(
            matches!(p.start, StartPlan::Gateway { .. }),
            "{:?}",
            p.start
        );
        assert!(p.start.describe().contains("native gateway"));

        gw.config = json!({"gateway": {"applications": [{"id": "api", "openapi": {"url": "/o"}}]}});
        // Its package is needed, and the error says so.
        let err = Gateway.package(&gw, &all).unwrap_err().to_string();
        assert!(
            err.contains("@platformatic/gateway or @platformatic/composer"),
            "{err}"
        );
        testing::touch(
            dir.path(),
            "node_modules/@platformatic/composer/package.json",
        );
        let p = Gateway.package(&gw, &all).unwrap();
        assert!(p.ship_dependencies);
        assert_eq!(p.extra_dependencies, ["@platformatic/composer"]);
        // It fetches the composed documents at start: those services start first.
        assert!(
            matches!(&p.start, StartPlan::Capability { waits_for, .. } if waits_for == &["api"]),
            "{:?}",
            p.start
        );
        assert_eq!(
            p.start.describe(),
            "through @platformatic/composer: openapi composition \
             (`gateway.applications[0].openapi`) goes beyond prefix routing"
        );
    }

    #[test]
    fn unknown_targets_and_clashing_prefixes_are_errors() {
        let gw = svc(
            "gw",
            Kind::Gateway,
            None,
            json!({"gateway": {"applications": [{"id": "nope"}]}}),
        );
        let err = routes(
            &gw,
            &app(vec![
                gw.clone(),
                svc("api", Kind::Service, None, Value::Null),
            ]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("\"nope\"") && err.to_string().contains("api"),
            "{err}"
        );

        let gw = svc(
            "gw",
            Kind::Gateway,
            None,
            json!({"gateway": {"applications": [{"id": "a", "proxy": {"prefix": "/x"}}, {"id": "b", "proxy": {"prefix": "/x/"}}]}}),
        );
        let all = vec![
            gw.clone(),
            svc("a", Kind::Service, None, Value::Null),
            svc("b", Kind::Service, None, Value::Null),
        ];
        let err = routes(&gw, &app(all)).unwrap_err();
        assert!(err.to_string().contains("\"/x\""), "{err}");
    }
}
