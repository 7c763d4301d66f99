// What watt runs for `nuxt build` (`node --input-type=module -e <this>`, in the service's
// folder): the `build` command of the Nuxt CLI the service's `nuxt` depends on, through its
// programmatic API (`runCommand` of @nuxt/cli, the same command `nuxt build` runs), with one
// inline module added to the config's `modules` as an override. The user's nuxt.config is
// loaded as always and never edited. The module makes the build the same wherever and
// whenever it runs:
//
// - `buildId` (a random UUID by default: @nuxt/schema) is WATT_NUXT_BUILD_ID, a hash of the
//   build's inputs, unless a config layer sets its own. It is public
//   (`<buildAssetsDir>/builds/meta/<id>.json`, which clients poll to see a new deployment),
//   so it changes exactly when the inputs do;
// - the `timestamp` Nuxt writes into `builds/latest.json` and `builds/meta/<id>.json`
//   (`Date.now()` when Nitro was set up) is WATT_NUXT_TIMESTAMP, the artifact's one time. It
//   is rewritten in `nitro:build:public-assets`, after Nitro copied the public files and
//   before it bundles its public-asset manifest, so the ETag Nitro computes is the shipped
//   bytes';
// - the keys Nuxt gives `useFetch`/`useAsyncData`/`useState` calls are a hash of the file's
//   absolute path (nuxt's keyed-functions plugin): they become a hash of the path relative to
//   the root, same length, so code does not move and source maps stay right;
// - Nitro's handler names and public-asset manifest, as for Nitro (nitro_folder_free.mjs,
//   which runs first, and whose `digest` this uses);
// - Vite names the server chunks by a hash of code that imports packages by absolute path:
//   they are hashed with those paths relative (see `folderFreeChunkNames`);
// - the server's `styles.mjs` lists components in the order their CSS finished transforming
//   (@nuxt/vite-builder's ssr-styles plugin, `Object.entries(cssMap)`): it is sorted (see
//   `sortedStyles`);
// - the build folder is one place, whatever an earlier build left (see the end).
import { createRequire } from 'node:module'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'

// What nuxt appends to a keyed call: `, '$<10 characters>' /* nuxt-injected */`.
const INJECTED_KEY = /'\$[\w-]{10}' \/\* nuxt-injected \*\//g

function relativeTo (root, id) {
  return id.startsWith(root + '/') ? id.slice(root.length + 1) : id
}

function relativeKeys (root) {
  return {
    name: 'watt:relative-keys',
    enforce: 'post',
    transform: {
      // After every other transform, nuxt's keyed-functions plugin included.
      order: 'post',
      handler (code, id) {
        if (!code.includes('/* nuxt-injected */')) return
        const rel = relativeTo(root, id)
        let n = 0
        const out = code.replace(INJECTED_KEY, () =>
          `'$${digest(`${rel}-${++n}`, 'base64url').slice(0, 10)}' /* nuxt-injected */`)
        return { code: out, map: null }
      }
    }
  }
}

// An absolute path imported by a chunk: `from "/…"`, `import "/…"`, `import("/…")`.
const ABSOLUTE_IMPORT = /(\bfrom\s*|\bimport\s*\(?\s*)(["'])(\/[^"'\n]+)\2/g

// Vite's server build imports packages by absolute path (Nitro bundles and traces them), and a
// chunk's name hashes its code, so the names of the server chunks depended on the folder. The
// paths are swapped for placeholders naming them relative to the root while the chunk is
// hashed, then put back, as they were, before it is written.
// Not a path (those start with `/`), and printable: rolldown escapes control characters.
const PLACEHOLDER = 'watt-root:'
const PLACED = /watt-root:[^"'\n]*/g

function folderFreeChunkNames (root) {
  const placed = new Map()
  return {
    name: 'watt:folder-free-chunk-names',
    renderChunk (code) {
      let changed = false
      const out = code.replace(ABSOLUTE_IMPORT, (_, keyword, quote, path) => {
        changed = true
        const placeholder = PLACEHOLDER + relative(root, path)
        placed.set(placeholder, path)
        return keyword + quote + placeholder + quote
      })
      return changed ? { code: out, map: null } : undefined
    },
    // Written files, not `generateBundle`'s chunks: Vite's rolldown writes what it rendered.
    async writeBundle (options, bundle) {
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== 'chunk') continue
        const file = join(options.dir, chunk.fileName)
        const code = await readFile(file, 'utf8')
        if (!code.includes(PLACEHOLDER)) continue
        await writeFile(file, code.replace(PLACED, (p) => placed.get(p) ?? p))
      }
    }
  }
}

// `styles.mjs` as @nuxt/vite-builder writes it (knitwork's `genObjectFromRawEntries`): one
// `  "<component>": () => import(…)` line per entry. Another shape is left as it is.
const STYLES = /^export default \{\n([\s\S]*)\n\}$/m

function sortedStylesSource (code) {
  const body = code.match(STYLES)
  if (!body) return code
  const entries = body[1].split('\n').map((line) => line.replace(/,$/, ''))
  if (!entries.every((e) => e.startsWith('  "'))) return code
  return code.replace(body[1], () => entries.sort().join(',\n'))
}

function sortedStyles () {
  return {
    name: 'watt:sorted-styles',
    async writeBundle (options) {
      const file = join(options.dir, 'styles.mjs')
      const code = await readFile(file, 'utf8').catch(() => null)
      if (code === null) return
      const sorted = sortedStylesSource(code)
      if (sorted !== code) await writeFile(file, sorted)
    }
  }
}

async function pinTimestamps (dir, timestamp) {
  const files = [join(dir, 'latest.json')]
  const meta = join(dir, 'meta')
  for (const name of await readdir(meta).catch(() => [])) {
    if (name.endsWith('.json')) files.push(join(meta, name))
  }
  for (const file of files) {
    let data
    try {
      data = JSON.parse(await readFile(file, 'utf8'))
    } catch {
      continue
    }
    if (typeof data?.timestamp !== 'number' || data.timestamp === timestamp) continue
    data.timestamp = timestamp
    // As nuxt writes them (JSON.stringify, no newline).
    await writeFile(file, JSON.stringify(data))
  }
}

// The module: `buildId` and `timestamp` as watt derived them.
const reproducible = (buildId, timestamp) => (_options, nuxt) => {
  const own = nuxt.options._layers?.some((l) => typeof l.config?.buildId === 'string')
  if (buildId && !own) {
    nuxt.options.buildId = buildId
    nuxt.options.runtimeConfig.app.buildId = buildId
  }
  const root = nuxt.options.rootDir
  nuxt.hook('vite:extendConfig', (config, env) => {
    config.plugins ||= []
    config.plugins.push(relativeKeys(root))
    if (env?.isServer) config.plugins.push(folderFreeChunkNames(root), sortedStyles())
  })
  nuxt.hook('nitro:init', (nitro) => {
    nitro.hooks.hook('rollup:before', (_nitro, rollupConfig) => {
      rollupConfig.plugins ||= []
      rollupConfig.plugins.push(folderFreeNitro(root))
    })
  })
  if (Number.isFinite(timestamp)) {
    nuxt.hook('nitro:build:public-assets', (nitro) =>
      pinTimestamps(join(nitro.options.output.publicDir, nuxt.options.app.buildAssetsDir, 'builds'), timestamp))
  }
}

// ---- the build (tests/build_drivers.rs runs what is above this line on its own)
const require = createRequire(join(process.env.WATT_NUXT_DIR, 'package.json'))
const { runCommand } = await import(pathToFileURL(require.resolve('@nuxt/cli')).href)
const watt = reproducible(process.env.WATT_NUXT_BUILD_ID, Number(process.env.WATT_NUXT_TIMESTAMP))
// Nuxt builds in `.nuxt`, or in `node_modules/.cache/nuxt/.nuxt` when a `.nuxt` is there
// already (a dev server's, or the last build's: @nuxt/kit `loadNuxtConfig`), and the build
// folder's path reaches names and source maps: the second build of a checkout differed from
// the first. Without a `buildDir` of the app's own, it is always the cache folder, which
// leaves a dev server's `.nuxt` alone.
const kit = await import(pathToFileURL(require.resolve('@nuxt/kit')).href)
const config = await kit.loadNuxtConfig({ cwd: process.cwd(), overrides: { _prepare: true } })
const ownBuildDir = config._layers?.some((l) => l.config?.buildDir)
const buildDir = ownBuildDir ? {} : { buildDir: join(config.rootDir, 'node_modules/.cache/nuxt/.nuxt') }
await runCommand('build', [], { overrides: { modules: [watt], ...buildDir } })
