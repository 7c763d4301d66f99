//! Every way a Watt service can be started, with real fastify and express, reached through a
//! gateway entrypoint over the mesh.

mod common;

use common::App;
use serde_json::{json, Value};

/// The entrypoint: `/<id>/<path>` → `fetch('http://<id>.plt.local/<path>')`.
pub const GATEWAY: &str = r#"
import http from 'node:http'
export function create () {
  return http.createServer(async (req, res) => {
    const [, id, ...rest] = req.url.split('/')
    try {
      const r = await fetch(`http://${id}.plt.local/${rest.join('/')}`)
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' })
      res.end(await r.text())
    } catch (e) {
      res.writeHead(502)
      res.end(String(e.cause ?? e))
    }
  })
}
"#;

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn every_start_shape_serves() {
    let mut app = App::new("gateway").with_modules();
    app.node_service("gateway", "index.mjs", GATEWAY);

    app.node_service(
        "fastify-create",
        "index.mjs",
        r#"
import Fastify from 'fastify'
export async function create () {
  const app = Fastify()
  app.get('/', async () => ({ shape: 'create-fastify' }))
  return app
}
"#,
    );
    app.node_service(
        "express-build",
        "index.cjs",
        r#"
const express = require('express')
module.exports.build = function () {
  const app = express()
  app.get('/', (req, res) => res.json({ shape: 'build-express' }))
  return app
}
"#,
    );
    let http = app.node_service(
        "http-create",
        "server.mjs",
        r#"
import http from 'node:http'
export function create () {
  return http.createServer((req, res) => res.end(JSON.stringify({
    shape: 'create-http',
    preloaded: globalThis.preloaded === true,
    execArgv: process.execArgv
  })))
}
"#,
    );
    http["nodeOptions"] = json!(["--max-old-space-size=128"]);
    http["preload"] = json!(["app/http-create/preload.mjs"]);
    app.file(
        "app/http-create/preload.mjs",
        "globalThis.preloaded = true\n",
    );

    let plugin = app.node_service(
        "plugin",
        "index.mjs",
        r#"
export default async function (app) {
  app.get('/', async () => ({ shape: 'fastify-plugin' }))
}
"#,
    );
    plugin["start"]["fastify"] = json!("node_modules/fastify");

    app.file(
        "app/service/plugins/root.js",
        r#"
module.exports = async function (app, opts) {
  app.get('/', async () => ({ shape: 'fastify-plugins', opts }))
}
"#,
    );
    app.file(
        "app/service/routes/users/index.ts",
        r#"
import type { FastifyInstance } from 'fastify'
interface Options { greeting: string, nested: { list: string[] } }
export default async function (app: FastifyInstance, opts: Options) {
  app.get('/', async () => ({ greeting: opts.greeting, list: opts.nested.list }))
}
"#,
    );
    app.service(
        "service",
        json!({
            "type": "fastifyPlugins",
            "fastify": "node_modules/fastify",
            "plugins": [
                { "path": "app/service/plugins/root.js", "prefix": null, "options": {} },
                {
                    "path": "app/service/routes/users/index.ts", "prefix": "/users",
                    "options": { "greeting": "{GREETING} world", "nested": { "list": ["{{GREETING}}", "{NOPE}"] } }
                }
            ]
        }),
    );

    app.node_service(
        "script",
        "index.js",
        r#"
const http = require('node:http')
const server = http.createServer((req, res) => res.end(JSON.stringify({
  shape: 'script', port: server.address().port, envPort: Number(process.env.PORT)
})))
server.listen(4567, '0.0.0.0', () => console.log('script listening'))
"#,
    );

    app.file(
        "app/cmd/server.js",
        r#"
require('node:http').createServer((req, res) => res.end(JSON.stringify({
  shape: 'command', argv: process.argv.slice(2)
}))).listen(process.env.PORT)
"#,
    );
    app.service(
        "cmd",
        json!({ "type": "command", "argv": ["node", "server.js", "--flag", "a b"] }),
    );

    let mut run = app.start(&[("GREETING", "hello")]);
    run.ready();

    let cases = [
        ("/fastify-create/", json!({ "shape": "create-fastify" })),
        ("/express-build/", json!({ "shape": "build-express" })),
        ("/plugin/", json!({ "shape": "fastify-plugin" })),
        (
            "/service/",
            json!({ "shape": "fastify-plugins", "opts": {} }),
        ),
        (
            "/service/users",
            json!({ "greeting": "hello world", "list": ["hello", ""] }),
        ),
        (
            "/cmd/",
            json!({ "shape": "command", "argv": ["--flag", "a b"] }),
        ),
    ];
    for (path, want) in cases {
        assert_eq!(
            json_of(&run.body(path)),
            want,
            "GET {path}\n{}",
            run.output()
        );
    }

    let http = json_of(&run.body("/http-create/"));
    assert_eq!(http["shape"], "create-http");
    assert_eq!(http["preloaded"], true, "preload not imported: {http}");
    assert!(
        http["execArgv"]
            .to_string()
            .contains("--max-old-space-size=128"),
        "nodeOptions missing: {http}"
    );

    let script = json_of(&run.body("/script/"));
    assert_eq!(script["shape"], "script");
    assert_ne!(script["port"], 4567, "listen(4567) was not redirected");
    assert_eq!(script["port"], script["envPort"]);

    // Fastify's JSON logs come through tagged with the service's name.
    let out = run.stdout();
    assert!(
        out.lines()
            .any(|l| l.starts_with('{') && l.contains(r#""name":"service""#)),
        "no tagged fastify log line\n{}",
        run.output()
    );
    assert!(
        out.contains("[script] script listening"),
        "{}",
        run.output()
    );
}
