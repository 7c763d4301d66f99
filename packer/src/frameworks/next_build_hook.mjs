// Loaded with `--import` into every node process of a Next.js build that watt runs (NODE_OPTIONS,
// so Next's build workers get it too). Next merges the app's next.config over its
// `defaultConfig` (next/dist/server/config-shared.js), so a value put in the defaults applies
// exactly when the app's config sets none: the app's own `basePath` and `generateBuildId` win.
// Modules are patched by replacing their exports in the require cache before Next loads them.
// Errors are ignored: the packer checks the built output and names what did not take.
import { createRequire } from 'node:module'
import { createHmac } from 'node:crypto'

const require = createRequire(process.env.WATT_NEXT_DIR + '/package.json')

function patch (id, change) {
  try {
    const file = require.resolve(id)
    const original = require(file)
    const exports = Object.defineProperty({ ...original }, '__esModule', { value: true })
    change(exports, original)
    require.cache[file].exports = exports
  } catch {}
}

patch('next/dist/server/config-shared.js', (exports, shared) => {
  const defaults = { ...shared.defaultConfig }
  if (process.env.WATT_NEXT_BASE_PATH) defaults.basePath = process.env.WATT_NEXT_BASE_PATH
  const buildId = process.env.WATT_NEXT_BUILD_ID
  if (buildId) defaults.generateBuildId = () => buildId
  // Frozen only where Next froze it: Next 15.2 assigns `defaultConfig.outputFileTracingRoot`.
  exports.defaultConfig = Object.isFrozen(shared.defaultConfig) ? Object.freeze(defaults) : defaults
})

// Next's preview-mode keys are random per build (next/dist/build/preview-key-utils.js). Given a
// secret (the server actions key, which Next itself reads from the environment), they are
// derived from it instead, so two builds with the same secret are identical.
const secret = process.env.NEXT_SERVER_ACTIONS_ENCRYPTION_KEY
if (secret) {
  const derive = (what, hexChars) =>
    createHmac('sha256', secret).update('watt-next-preview-' + what).digest('hex').slice(0, hexChars)
  patch('next/dist/build/preview-key-utils.js', exports => {
    exports.generatePreviewKeys = async () => ({
      previewModeId: derive('id', 32),
      previewModeSigningKey: derive('signing', 64),
      previewModeEncryptionKey: derive('encryption', 64)
    })
  })
}
