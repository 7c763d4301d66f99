// What watt runs for `vite build` of an app built with Nitro's Vite plugin (TanStack Start, and
// Nitro with a Vite config): `node --input-type=module -e <nitro_folder_free.mjs + this>` in the
// service's folder. It is what Vite's CLI `build` and Watt's Vite capability run,
// `createBuilder(inline).buildApp()` of the Vite the service resolves, with `base` and
// `build.outDir` as Watt sets them, and two plugins beside the app's own (its vite.config loads
// as always; Vite appends inline plugins to the config's):
// - folderFreeNitro, for Nitro's handler names and public-asset manifest;
// - relativeRouteFiles: TanStack Start's server manifest names each route's source file by its
//   absolute path (`filePath`), so the build folder shipped in the server build. Nothing reads
//   it in production (start-server-core never does; the build used it to map route chunks,
//   before this module is written), so it becomes the path relative to the root.

// TanStack Start's server manifest module (`tanstack-start-manifest:v`, resolved with `\0`).
const START_MANIFEST = 'tanstack-start-manifest:v'

function relativeRouteFiles (root) {
  return {
    name: 'watt:relative-route-files',
    transform (code, id) {
      if (!id.endsWith(START_MANIFEST)) return
      const out = code.replace(/(\bfilePath:\s*)"([^"\n]*)"/g, (whole, key, path) =>
        path.startsWith(root + '/') ? `${key}${JSON.stringify(path.slice(root.length + 1))}` : whole)
      return out === code ? undefined : { code: out, map: null }
    }
  }
}

// ---- the build (tests/build_drivers.rs runs what is above this line on its own)
const { createBuilder } = await importPackage(process.env.WATT_VITE_DIR, '.')
const root = process.cwd()
const builder = await createBuilder({
  root,
  base: process.env.WATT_VITE_BASE || undefined,
  build: { outDir: process.env.WATT_VITE_OUT_DIR },
  plugins: [folderFreeNitro(root), relativeRouteFiles(root)]
}, null)
await builder.buildApp()
