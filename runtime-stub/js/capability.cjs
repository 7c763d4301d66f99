'use strict'
// Starts a service through its capability's own package (`@platformatic/db`,
// `@platformatic/gateway`, …) the way Watt's runtime does in a worker
// (packages/runtime/lib/worker/controller.js, wattpm 3.67): `create(root, configFile, context)`,
// `init()`, `start({ listen })`, and `stop()` when the service is told to go. Here the service is
// the process: it always listens (the launcher redirects that listen() to the stub's socket), it
// is production, and its dependencies are the stub's business (it starts them first), so the
// context says so.
//
// Called by launcher.cjs with the service id and
//   {"type": "capability", "package": "/abs/node_modules/@platformatic/db", "config": "/abs/…json",
//    "root": "/abs/service", "isEntrypoint": bool}

const fs = require('node:fs')
const path = require('node:path')
const { pathToFileURL } = require('node:url')

module.exports = async function startCapability (id, start) {
  const pkg = await import(pathToFileURL(entryOf(start.package)).href)
  if (typeof pkg.create !== 'function') {
    throw new Error(`service "${id}": ${start.package} exports no create(); it is not a Watt capability`)
  }
  // What Watt's controller does for production applications before creating the capability.
  if (!process.env.NODE_ENV) process.env.NODE_ENV = 'production'

  const applicationConfig = {
    id,
    path: start.root,
    config: start.config,
    entrypoint: start.isEntrypoint,
    isProduction: true,
    dependencies: [],
    useHttp: true
  }
  const context = {
    applicationConfig,
    applicationId: id,
    workerId: 0,
    worker: { count: 1, index: 0 },
    directory: start.root,
    dependencies: [],
    isEntrypoint: start.isEntrypoint,
    isProduction: true,
    // Only keeps the capability from resolving `localhost`: the launcher serves fd 3 whatever
    // address is asked for.
    serverConfig: { hostname: '127.0.0.1', port: 0 },
    loggerConfig: { level: process.env.PLT_SERVER_LOGGER_LEVEL || 'info' },
    runtimeConfig: { logger: { level: process.env.PLT_SERVER_LOGGER_LEVEL || 'info' } },
    hasManagementApi: false,
    fetchApplicationUrl: () => null
  }

  const capability = await pkg.create(start.root, start.config, context)
  let stopping
  const stop = (signal) => {
    stopping ??= (async () => {
      try {
        // Watt's close: the capability closes its Fastify app (onClose hooks, open requests).
        await capability.stop()
        process.exit(0)
      } catch (err) {
        console.error(`service "${id}": stopping after ${signal} failed`, err)
        process.exit(1)
      }
    })()
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)

  await capability.init?.()
  await capability.start({ listen: true })
}

// The module `import(name)` would load: package.json `exports["."]` (import/node/default
// conditions), else `main`, else index.js.
function entryOf (dir) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
  let target = manifest.exports
  if (target && typeof target === 'object' && !Array.isArray(target) && '.' in target) target = target['.']
  while (target && typeof target === 'object' && !Array.isArray(target)) {
    target = target.import ?? target.node ?? target.default
  }
  if (Array.isArray(target)) target = target[0]
  return path.join(dir, typeof target === 'string' ? target : manifest.main || 'index.js')
}
