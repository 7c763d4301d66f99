//! The rewriting functions of the scripts watt runs to build Nitro-based apps
//! (packer/src/frameworks/: `nitro_folder_free.mjs`, the Nitro plugin they share, then
//! `nuxt_build.mjs` or `nitro_vite_build.mjs` up to its "the build" line), run by node on their
//! own, each on what Nuxt, Vite, Nitro or TanStack Start hands it, built in two folders.
//! tests/determinism.rs and real_apps.rs check the whole builds; these pin each rewrite.

use std::process::Command;

use watt_e2e::*;

/// Runs `test` (JS, with `assert` and `tmp`, a fresh folder) after the functions of `driver`,
/// put after the shared Nitro plugin as nuxt.rs and nitro.rs run them.
fn run_after(driver: &str, test: &str) {
    let frameworks = repo().join("packer/src/frameworks");
    let script = std::fs::read_to_string(frameworks.join("nitro_folder_free.mjs")).unwrap()
        + &std::fs::read_to_string(frameworks.join(driver)).unwrap();
    let (functions, _) = script
        .split_once("// ---- the build")
        .unwrap_or_else(|| panic!("{driver} has its `// ---- the build` line"));
    let tmp = tempfile::tempdir().unwrap();
    let script = format!(
        "{functions}\nimport assert from 'node:assert/strict'\nconst tmp = {:?}\n{test}\n",
        tmp.path()
    );
    let o = Command::new(node_bin())
        .args(["--input-type=module", "-e", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

/// [`run_after`] the Nuxt driver.
fn run(test: &str) {
    run_after("nuxt_build.mjs", test)
}

/// TanStack Start's server manifest names route files by absolute path; the build ships them
/// relative to the root, and leaves other modules and paths outside the root alone.
#[test]
fn tanstack_route_files_are_named_from_the_root() {
    run_after(
        "nitro_vite_build.mjs",
        r#"
const manifest = (root) => `export const tsrStartManifest = () => ({routes:{__root__:{filePath:"${root}/src/routes/__root.tsx",children:["/"]},"/":{filePath: "${root}/src/routes/index.tsx",preloads:["/app/assets/routes-CC7jujo9.js"]},"/x":{filePath:"/elsewhere/x.tsx"}}})`
const rootA = tmp + '/first/app/web/board', rootB = tmp + '/second/x/web/board'
const id = '\0tanstack-start-manifest:v'
const a = relativeRouteFiles(rootA).transform(manifest(rootA), id).code
assert.equal(a, relativeRouteFiles(rootB).transform(manifest(rootB), id).code)
assert.ok(!a.includes(tmp), a)
assert.ok(a.includes('filePath:"src/routes/__root.tsx"') && a.includes('filePath: "src/routes/index.tsx"'), a)
assert.ok(a.includes('filePath:"/elsewhere/x.tsx"'), a)
assert.equal(relativeRouteFiles(rootA).transform(manifest(rootA), rootA + '/src/router.tsx'), undefined)
assert.equal(relativeRouteFiles(rootA).transform('export const x = 1', id), undefined)
"#,
    );
}

#[test]
fn usefetch_keys_hash_the_path_from_the_root_and_keep_their_length() {
    run(r#"
const code = "const a = useFetch('/api/hello', '$3I_vr-2RU8' /* nuxt-injected */)\n" +
  "const b = useState('$abcdefghij' /* nuxt-injected */)"
const key = (root, id) => relativeKeys(root).transform.handler(code, root + id).code
const a = key('/first/app/web/shop', '/app/pages/index.vue?vue&type=script')
assert.equal(a, key('/second/elsewhere/app/web/shop', '/app/pages/index.vue?vue&type=script'))
assert.equal(a.length, code.length)
const keys = [...a.matchAll(/'(\$[\w-]{10})' \/\* nuxt-injected \*\//g)].map((m) => m[1])
assert.equal(keys.length, 2)
assert.notEqual(keys[0], keys[1])
assert.ok(!keys.includes('$3I_vr-2RU8'), a)
assert.notEqual(a, key('/first/app/web/shop', '/app/pages/other.vue'))
assert.equal(relativeKeys('/r').transform.handler('no keys here', '/r/x.js'), undefined)
assert.equal(relativeKeys('/r').transform.order, 'post')
"#);
}

#[test]
fn server_chunks_are_hashed_without_the_folder_and_written_with_it() {
    run(r#"
import { mkdir } from 'node:fs/promises'
const chunk = (root) => `import { $fetch } from "${root}/node_modules/ofetch/dist/node.mjs";\n` +
  `import "${root}/node_modules/side/effect.mjs";\n` +
  `const m = () => import('${root}/node_modules/lazy/index.mjs');\nexport { m }`
const rootA = tmp + '/first/app/web/shop', rootB = tmp + '/second/app/web/shop'
const [pa, pb] = [folderFreeChunkNames(rootA), folderFreeChunkNames(rootB)]
const ra = pa.renderChunk(chunk(tmp + '/first/app')).code
assert.equal(ra, pb.renderChunk(chunk(tmp + '/second/app')).code)
assert.ok(!ra.includes(tmp), ra)
assert.ok(ra.includes('watt-root:../../node_modules/ofetch/dist/node.mjs'), ra)
assert.equal(pa.renderChunk('export const x = "/not/an/import"'), undefined)
// Written: the paths are back, exactly.
await mkdir(tmp + '/dist/_nuxt', { recursive: true })
await writeFile(tmp + '/dist/_nuxt/pages-H.js', ra)
await pa.writeBundle({ dir: tmp + '/dist' }, {
  '_nuxt/pages-H.js': { type: 'chunk', fileName: '_nuxt/pages-H.js' },
  'styles.css': { type: 'asset', fileName: 'styles.css' }
})
assert.equal(await readFile(tmp + '/dist/_nuxt/pages-H.js', 'utf8'), chunk(tmp + '/first/app'))
"#);
}

/// The server's `styles.mjs` lists components in the order their CSS finished transforming
/// (it once differed between two CI builds); it is written sorted, and another shape is left
/// alone.
#[test]
fn the_server_styles_list_is_written_sorted() {
    run(r#"
import { mkdir } from 'node:fs/promises'
const entry = (c) => `  "${c}": () => import('./_nuxt/${c.replace(/.*\//, '')}-styles.x.mjs').then(interopDefault)`
const styles = (order) => 'const interopDefault = r => r.default || r || []\nexport default {\n' +
  order.map(entry).join(',\n') + '\n}'
const names = ['pages/index.vue', 'components/Cart.vue', '../../../node_modules/nuxt/dist/app/components/error-500.vue', 'components/Badge.vue']
const sorted = [...names].sort()
await mkdir(tmp + '/a', { recursive: true })
await mkdir(tmp + '/b', { recursive: true })
await writeFile(tmp + '/a/styles.mjs', styles(names))
await writeFile(tmp + '/b/styles.mjs', styles([...names].reverse()))
await sortedStyles().writeBundle({ dir: tmp + '/a' })
await sortedStyles().writeBundle({ dir: tmp + '/b' })
const a = await readFile(tmp + '/a/styles.mjs', 'utf8')
assert.equal(a, styles(sorted))
assert.equal(await readFile(tmp + '/b/styles.mjs', 'utf8'), a)
// Still the module it was.
const mod = await import('data:text/javascript,' + encodeURIComponent(a.replaceAll("import('./", "Promise.resolve('")))
assert.deepEqual(Object.keys(mod.default), sorted)
const other = 'export default { a: 1 }'
assert.equal(sortedStylesSource(other), other)
assert.equal(sortedStylesSource(styles([])), styles([]))
// No styles.mjs (a build without the ssr-styles plugin): nothing is written.
await sortedStyles().writeBundle({ dir: tmp + '/none' })
"#);
}

#[test]
fn nitro_handler_names_hash_the_path_from_the_root() {
    run(r#"
const handlers = (root) => `import _4mUV1_ from '${root}/node_modules/nitropack/dist/runtime/internal/static';
const _lazy_TSbqUp = () => import('${root}/server/api/hello.ts');
export const handlers = [
  { route: '', handler: _4mUV1_, lazy: false, middleware: true, method: undefined },
  { route: '/api/hello', handler: _lazy_TSbqUp, lazy: true, middleware: false, method: undefined }
];`
const a = relativeHandlerNames(handlers('/first/app/web/shop'), '/first/app/web/shop')
const b = relativeHandlerNames(handlers('/second/x/web/shop').replace(/_4mUV1_/g, '_FjiJ3F').replace(/_lazy_TSbqUp/g, '_lazy_YrJeve'), '/second/x/web/shop')
assert.equal(a.replaceAll('/first/app', ''), b.replaceAll('/second/x', ''))
assert.ok(!a.includes('_4mUV1_') && !a.includes('TSbqUp'), a)
const lazy = a.match(/const (_lazy_\w{6}) =/)[1]
assert.ok(a.includes(`handler: ${lazy}, lazy: true`), a)
const eager = a.match(/import (_\w{6}) from/)[1]
assert.ok(a.includes(`handler: ${eager}, lazy: false`), a)
// The plugin rewrites only Nitro's handler list and asset manifest.
const plugin = folderFreeNitro('/first/app/web/shop')
assert.equal(plugin.transform('const x = 1', '/first/app/web/shop/server/api/hello.ts'), undefined)
assert.equal(plugin.transform(handlers('/first/app/web/shop'), '\0virtual:#nitro-internal-virtual/server-handlers').code, a)
"#);
}

/// Nitro 3 (`nitro`) writes its handler list in another module, with other quotes, a lazy
/// wrapper and route meta imports named after their handler.
#[test]
fn nitro_3_handler_names_hash_the_path_from_the_root_meta_imports_included() {
    run(r#"
const routing = (root) => `import _a1B2c3 from "${root}/server/middleware/log.ts";
import _a1B2c3Meta from "${root}/server/middleware/log.ts?meta";
const _lazy_Zz9_x0 = defineLazyEventHandler(() => import("${root}/server/routes/index.ts"));
export const globalMiddleware = [toEventHandler(_a1B2c3)];
export const routes = { '/': { handler: _lazy_Zz9_x0, meta: _a1B2c3Meta } };`
const rootA = '/first/app/web/site', rootB = '/second/x/web/site'
const a = relativeHandlerNames(routing(rootA), rootA)
const b = relativeHandlerNames(routing(rootB).replace(/_a1B2c3/g, '_Q9q9Q9').replace(/_lazy_Zz9_x0/g, '_lazy_Yy8_w1'), rootB)
assert.equal(a.replaceAll(rootA, ''), b.replaceAll(rootB, ''))
assert.ok(!a.includes('a1B2c3') && !a.includes('Zz9_x0'), a)
const eager = a.match(/import (_\w{6}) from/)[1]
assert.ok(a.includes(`import ${eager}Meta from`) && a.includes(`meta: ${eager}Meta`), a)
assert.ok(a.includes(`toEventHandler(${eager})`), a)
const plugin = folderFreeNitro(rootA)
assert.equal(plugin.transform(routing(rootA), '\0#nitro-internal-virtual/routing').code, a)
assert.equal(plugin.transform(routing(rootA), '\0#nitro-internal-virtual/routing-meta'), undefined)
"#);
}

#[test]
fn the_public_asset_manifest_is_sorted_in_nitros_format() {
    run(r#"
const assets = { '/b.js': { etag: '"1-x"', size: 1 }, '/_nuxt/a.js': { size: 2 }, '/a.txt': { size: 3 } }
const code = `export default ${JSON.stringify(assets, null, 2)};`
const sorted = sortedAssets(code)
const keys = Object.keys(JSON.parse(sorted.slice('export default '.length, -1)))
assert.deepEqual(keys, ['/_nuxt/a.js', '/a.txt', '/b.js'])
assert.equal(sorted, sortedAssets(sorted))
assert.equal(sorted.length, code.length)
assert.equal(sortedAssets('export const x = 1'), 'export const x = 1')
"#);
}

#[test]
fn the_build_manifests_carry_the_artifacts_time() {
    run(r#"
import { mkdir } from 'node:fs/promises'
const dir = tmp + '/_nuxt/builds'
await mkdir(dir + '/meta', { recursive: true })
await writeFile(dir + '/latest.json', JSON.stringify({ id: 'abc', timestamp: 1796180929855 }))
await writeFile(dir + '/meta/abc.json', JSON.stringify({ id: 'abc', timestamp: 1796180929855, prerendered: [] }))
await writeFile(dir + '/meta/notes.txt', 'timestamp 1796180929855')
await pinTimestamps(dir, 315532800000)
assert.equal(await readFile(dir + '/latest.json', 'utf8'), '{"id":"abc","timestamp":315532800000}')
assert.equal(await readFile(dir + '/meta/abc.json', 'utf8'), '{"id":"abc","timestamp":315532800000,"prerendered":[]}')
assert.equal(await readFile(dir + '/meta/notes.txt', 'utf8'), 'timestamp 1796180929855')
await pinTimestamps(tmp + '/nowhere', 0)
"#);
}

#[test]
fn the_derived_build_id_applies_unless_a_config_layer_sets_one() {
    run(r#"
const nuxt = (layers) => ({
  options: { _layers: layers, buildId: 'random-uuid', runtimeConfig: { app: { buildId: 'random-uuid' } }, rootDir: '/r', app: { buildAssetsDir: '/_nuxt/' } },
  hook () {}
})
const plain = nuxt([{ config: {} }, { config: { modules: [] } }])
reproducible('0123456789abcdef0123', 0)(null, plain)
assert.equal(plain.options.buildId, '0123456789abcdef0123')
assert.equal(plain.options.runtimeConfig.app.buildId, '0123456789abcdef0123')
const own = nuxt([{ config: {} }, { config: { buildId: 'mine' } }])
own.options.buildId = own.options.runtimeConfig.app.buildId = 'mine'
reproducible('0123456789abcdef0123', 0)(null, own)
assert.equal(own.options.buildId, 'mine')
assert.equal(own.options.runtimeConfig.app.buildId, 'mine')
"#);
}
