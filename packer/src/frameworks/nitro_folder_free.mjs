// What watt's drivers for Nitro-built apps share: `nitro build` (nitro_build.mjs), `nuxt build`
// (nuxt_build.mjs) and the `vite build` of apps with Nitro's Vite plugin (nitro_vite_build.mjs).
// Each driver is this file followed by its own, run as one module: names declared here are
// theirs too (`digest`, `importPackage`, `folderFreeNitro`), and this file imports only
// namespaces named `watt*`, so a driver may import what it likes.
//
// The rollup plugin `folderFreeNitro` makes a Nitro server build the same in any folder:
// - Nitro names each handler's import by a hash of the handler's absolute path (nitropack 2
//   `getImportId`, nitro 3 `handlerWithImportHash`): the names become a hash of the path
//   relative to the root, in the handler list nitropack 2 generates
//   (`#nitro-internal-virtual/server-handlers`) and in nitro 3's (`…/routing`);
// - the public-asset manifest lists the files in the order parallel reads (nitropack 2) or a
//   glob (nitro 3) returned them: it is sorted.
import * as wattCrypto from 'node:crypto'
import * as wattFs from 'node:fs/promises'
import * as wattPath from 'node:path'
import * as wattUrl from 'node:url'

const digest = (text, encoding) => wattCrypto.createHash('sha256').update(text).digest(encoding)

// The ES module a package installed in `dir` exports as the first of `subpaths` it has.
async function importPackage (dir, ...subpaths) {
  const pkg = JSON.parse(await wattFs.readFile(wattPath.join(dir, 'package.json'), 'utf8'))
  const entry = (e) => (typeof e === 'string' || !e ? e : entry(e.import ?? e.default))
  for (const sub of subpaths) {
    const file = entry(pkg.exports?.[sub])
    if (file) return import(wattUrl.pathToFileURL(wattPath.join(dir, file)).href)
  }
  throw new Error(`${pkg.name} ${pkg.version} in ${dir} exports none of ${subpaths.join(', ')}`)
}

function folderFreeNitro (root) {
  return {
    name: 'watt:folder-free-nitro',
    transform (code, id) {
      if (/#nitro-internal-virtual\/(server-handlers|routing)$/.test(id)) {
        return { code: relativeHandlerNames(code, root), map: null }
      }
      if (id.endsWith('#nitro-internal-virtual/public-assets-data')) {
        return { code: sortedAssets(code), map: null }
      }
    }
  }
}

// A handler import as either version writes it, each with the handler's path.
const HANDLER_IMPORTS = [
  /import (_\w{6}) from (["'])([^"'\n]+)\2/g,
  /const (_lazy_\w{6}) = [^\n]*?\bimport\((["'])([^"'\n]+)\2\)/g,
  /import (_\w{6})Meta from (["'])([^"'\n]+)\?meta\2/g
]

function relativeHandlerNames (code, root) {
  const names = new Map()
  for (const re of HANDLER_IMPORTS) {
    for (const [, name, , path] of code.matchAll(re)) {
      const prefix = name.startsWith('_lazy_') ? '_lazy_' : '_'
      names.set(name, prefix + digest(wattPath.relative(root, path), 'hex').slice(0, 6))
    }
  }
  if (names.size === 0) return code
  // `<name>Meta` (a handler's route meta) shares its handler's name.
  const any = new RegExp(`\\b(${[...names.keys()].join('|')})(Meta)?\\b`, 'g')
  return code.replace(any, (_, name, meta) => names.get(name) + (meta ?? ''))
}

// `export default <JSON>;` as Nitro writes it, with the keys sorted.
function sortedAssets (code) {
  const json = code.match(/^export default ([\s\S]*);$/)?.[1]
  if (!json) return code
  const assets = JSON.parse(json)
  const sorted = Object.fromEntries(Object.keys(assets).sort().map((k) => [k, assets[k]]))
  return `export default ${JSON.stringify(sorted, null, 2)};`
}
