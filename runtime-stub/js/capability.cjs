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
const { EventEmitter } = require('node:events')
const { pathToFileURL } = require('node:url')

module.exports = async function startCapability (id, start) {
  installITC(id, start.applications ?? {})
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

// Watt's worker ITC, as far as a capability asks the runtime about the app
// (packages/gateway/lib/proxy.js, application.js, capability.js; packages/basic/lib/capability.js):
// 3.54 reads `globalThis[Symbol.for('plt.runtime.itc')]`, 3.67 `globalThis.platformatic.itc`
// (@platformatic/globals getITC). A gateway asks `getApplicationMeta` for each target and
// proxies by its answer (prefix kept for apps built for absolute URLs): the packer wrote each
// service's meta into the manifest, the stub passes them here. Watt's runtime answers from the
// runtime's own state; what the stub has no counterpart for is rejected, saying so.
function installITC (self, applications) {
  const itc = new EventEmitter()
  const answers = {
    getApplicationMeta: (id) => {
      if (!(id in applications)) throw runtimeError(`Application not found: "${id}"`, 'PLT_RUNTIME_APPLICATION_NOT_FOUND')
      return applications[id]
    },
    listApplications: () => Object.keys(applications),
    // The stub starts a process once the services it depends on are ready, and the context
    // lists no dependencies to wait for (see startCapability): no worker to report.
    getWorkers: () => ({})
  }
  itc.send = async (name, message) => {
    const answer = answers[name]
    if (!answer) {
      throw runtimeError(`service "${self}": the packed app's runtime (watt-stub) does not answer "${name}"`, 'PLT_ITC_HANDLER_NOT_FOUND')
    }
    return answer(message)
  }
  // Watt's runtime restarts or re-reads on these (`changed`, `request:restart`, `event`, …);
  // the packed app's routes were fixed at build time, so they have no listener.
  itc.notify = () => {}
  itc.handle = () => {}
  itc.listen = () => {}
  itc.close = () => {}
  globalThis[Symbol.for('plt.runtime.itc')] = itc
  const g = (globalThis.platformatic ??= {})
  g[Symbol.for('plt.globals.fields')] ??= new Set()
  g.itc = itc
  g[Symbol.for('plt.globals.fields')].add('itc')
  // The gateway reads the runtime's base path from its worker's data when a target wants
  // absolute URLs (`workerData.config.basePath`); this process is that worker. The packed app
  // has no runtime base path.
  const workerThreads = require('node:worker_threads')
  if (workerThreads.isMainThread && workerThreads.workerData == null) {
    workerThreads.workerData = { config: {}, dirname: process.cwd() }
    require('node:module').syncBuiltinESMExports()
  }
}

function runtimeError (message, code) {
  return Object.assign(new Error(message), { code })
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
