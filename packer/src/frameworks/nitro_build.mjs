// What watt runs for `nitro build` (`node --input-type=module -e <nitro_folder_free.mjs + this>`,
// in the service's folder, with NITRO_APP_BASE_URL set as Watt sets it): the steps of the
// `build` command of the CLI of the Nitro the service resolves (nitropack 2 and nitro 3
// `dist/cli/build.mjs`: createNitro, prepare, copyPublicAssets, prerender, build, close), run
// here instead of through the CLI only to hook `folderFreeNitro` into Nitro's rollup config,
// beside whatever hooks the app's own config adds. The user's config loads as always.
import nodeCrypto from 'node:crypto'

// nitropack 2 exports its builder as `./core` (and `.`), nitro 3 as `.`.
const { createNitro, prepare, copyPublicAssets, prerender, build } =
  await importPackage(process.env.WATT_NITRO_DIR, './core', '.')

// As the CLI does (nitropack 2 assigns webcrypto, nitro 3 the module; both have getRandomValues).
if (!globalThis.crypto) globalThis.crypto = nodeCrypto.webcrypto
const rootDir = process.cwd()
const nitro = await createNitro({ rootDir, dev: false }, {})
nitro.hooks.hook('rollup:before', (_nitro, config) => {
  config.plugins = [config.plugins ?? []].flat()
  config.plugins.push(folderFreeNitro(rootDir))
})
await prepare(nitro)
await copyPublicAssets(nitro)
await prerender(nitro)
await build(nitro)
await nitro.close()
