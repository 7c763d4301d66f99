// The Astro config watt builds with (`astro build --config …`): the app's own config (its URL is
// in `WATT_ASTRO_USER_CONFIG`, empty when it has none) plus one integration that keeps the build
// machine's folders out of the server build, so two builds from two folders are identical.
//
// Astro and Vite write absolute host paths into the server chunks: the @astrojs/node config
// (`client`/`server` URLs), the image endpoint's `outDir`/`serverDir`, each component's source
// file (`$$file`, `createComponent(…, "/…/index.astro")`), and the serialized manifest
// (`rootDir`, `srcDir`, `outDir`, `cacheDir`, `publicDir`, `buildClientDir`, `buildServerDir`).
// Every such string literal is replaced by an expression giving the same place relative to the
// chunk (`new URL("../../client/", import.meta.url).href`, or its path), so Astro resolves the
// same folders at run time wherever the app is unpacked. Vite's `renderChunk` runs before Rollup
// hashes the chunk, so the chunk names stop depending on the folder too; the manifest is injected
// by Astro after bundling, so it is rewritten in `astro:build:done`.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const roots = JSON.parse(process.env.WATT_ASTRO_ROOTS || '[]').filter((r) => r && r !== '/')
const userUrl = process.env.WATT_ASTRO_USER_CONFIG || ''
const loaded = userUrl ? (await import(userUrl)).default ?? {} : {}
const user = typeof loaded === 'function' ? await loaded() : loaded

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const encode = (rel) => rel.split('/').map(encodeURIComponent).join('/')

/** `code` (a server chunk written to `fileDir`) without absolute paths below the roots. */
export function withoutHostPaths (code, fileDir) {
  for (const root of roots) {
    for (const [prefix, isUrl] of [[pathToFileURL(root).href, true], [root, false]]) {
      const re = new RegExp(`(["'\`])${escape(prefix)}((?:/[^"'\`\\\\\\n]*)?)\\1`, 'g')
      code = code.replace(re, (match, _q, rest, at, whole) => {
        const before = whole.slice(0, at).trimEnd()
        // A module specifier must stay a literal.
        if (/(?:\bfrom|\bimport\s*\(?)$/.test(before)) return match
        const target = root + (isUrl ? decodeURIComponent(rest) : rest)
        let rel = path.relative(fileDir, target) || '.'
        if (rest.endsWith('/')) rel += '/'
        const url = `new URL(${JSON.stringify(encode(rel))}, import.meta.url)`
        const expr = isUrl ? `${url}.href` : `decodeURIComponent(${url}.pathname)`
        // An object key becomes a computed key.
        const isKey = /[{,]$/.test(before) && /^\s*:/.test(whole.slice(at + match.length))
        return isKey ? `[${expr}]` : expr
      })
    }
  }
  return code
}

function rewriteTree (dir) {
  if (!fs.existsSync(dir)) return
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) {
      rewriteTree(file)
    } else if (entry.isFile() && /\.[cm]?js$/.test(entry.name)) {
      const code = fs.readFileSync(file, 'utf8')
      const clean = withoutHostPaths(code, dir)
      if (clean !== code) fs.writeFileSync(file, clean)
    }
  }
}

function wattReproducible () {
  let serverDir = null
  return {
    name: 'watt:reproducible',
    hooks: {
      'astro:config:setup': ({ updateConfig }) => {
        updateConfig({
          vite: {
            plugins: [
              {
                name: 'watt:without-host-paths',
                apply: 'build',
                renderChunk (code, chunk, options) {
                  // Browser code resolves nothing on disk; only server builds are rewritten.
                  if (this.environment?.config?.consumer === 'client' || !options.dir) return null
                  const dir = path.dirname(path.join(options.dir, chunk.fileName))
                  const clean = withoutHostPaths(code, dir)
                  return clean === code ? null : { code: clean, map: null }
                }
              }
            ]
          }
        })
      },
      'astro:config:done': ({ config }) => {
        serverDir = config.build.server
      },
      'astro:build:done': () => {
        if (serverDir) rewriteTree(fileURLToPath(serverDir))
      }
    }
  }
}

export default {
  ...user,
  integrations: [...(user.integrations ?? []), wattReproducible()]
}
