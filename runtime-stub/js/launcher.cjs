'use strict'
// Starts one service of a packed Watt app, the way Watt's capabilities would. watt-stub runs it
// as the main script (start types `node` and `fastifyPlugins`) or as a --require preload before
// a `node …` command; either way the service's first listen() is served by the stub's socket.
//
// Contract with watt-stub:
//   env WATT_LAUNCH  {"id": "<id>", "start": {"type": "node", "entry": "/abs", "fastify": "/abs"|null}
//                    | {"type": "fastifyPlugins", "fastify": "/abs",
//                       "plugins": [{"path": "/abs", "prefix": "/p"|null, "options": {…}}]}
//                    | {"type": "requestHandler", "build": "/abs",
//                       "runtime": "react-router"|"remix", "runtimePackage": "/abs"}
//                    | {"type": "capability", "package": "/abs", "config": "/abs", "root": "/abs",
//                       "isEntrypoint": bool}
//                    | {"type": "command"},
//                    "globals": {…}}   globalThis.platformatic's data (globals.cjs)
//   fd 3             the listening TCP socket bound by the stub
//   fd 4             write `ready\n` once the service listens
//   fd 5             the relay to the stub (globals.cjs): messaging, sharedContext, checks

require('./preload.cjs')
const globals = require('./globals.cjs')
const fs = require('node:fs')
const http = require('node:http')
const net = require('node:net')
const { pathToFileURL } = require('node:url')

const LISTEN_FD = 3
const READY_FD = 4

const config = process.env.WATT_LAUNCH ? JSON.parse(process.env.WATT_LAUNCH) : undefined
// Only this process is the service: children that inherit our execArgv or env must not take fd 3
// (in a fork it is the IPC channel).
delete process.env.WATT_LAUNCH

let listened = false
// What serves the stub's socket, closed on SIGTERM the way Watt stops an application.
let served
let fastifyApp
// A `close` export, which Watt's node capability calls first when it stops the application.
let appClose

// Before any of the service's code runs, as Watt's worker does.
if (config?.globals) globals.install(config.globals)

if (config) {
  // Registered before the service's code runs, so a service that handles SIGTERM itself (or
  // removes every listener) decides on its own.
  process.on('SIGTERM', function wattStop () {
    if (process.listeners('SIGTERM').some((l) => l !== wattStop && !l[globals.kInternal])) return
    close().then(() => process.exit(0), (err) => {
      console.error(err)
      process.exit(1)
    })
  })
}

// As Watt's node capability (`packages/node/lib/capability.js` stop()): an exported close()
// first, then Fastify's close() (its onClose hooks run); a node:http server stops accepting, finishes the
// requests in flight and closes idle keep-alive connections.
async function close () {
  if (appClose) await appClose()
  if (fastifyApp) return fastifyApp.close()
  if (!served) return
  await new Promise((resolve) => {
    served.close(() => resolve())
    served.closeIdleConnections?.()
  })
}

if (config) {
  const listen = net.Server.prototype.listen
  net.Server.prototype.listen = function (...args) {
    if (listened) return listen.apply(this, args)
    listened = true
    served = this
    // Whatever port, host or path was asked for, serve the stub's socket; keep the callback.
    const cb = typeof args[args.length - 1] === 'function' ? [args[args.length - 1]] : []
    this.once('listening', ready)
    return listen.call(this, { fd: LISTEN_FD }, ...cb)
  }
  if (require.main === module) {
    start(config).catch((err) => {
      console.error(err)
      process.exit(1)
    })
  }
} else if (require.main === module) {
  console.error('watt-stub launcher: WATT_LAUNCH is not set; the launcher is started by watt-stub')
  process.exit(1)
}

function ready () {
  try {
    fs.writeSync(READY_FD, 'ready\n')
    fs.closeSync(READY_FD)
  } catch {}
}

async function start ({ id, start }) {
  if (start.type === 'fastifyPlugins') {
    const app = createFastify(start.fastify)
    for (const plugin of start.plugins) {
      const prefix = plugin.prefix ? { prefix: plugin.prefix } : {}
      app.register(await load(plugin.path), { ...plugin.options, ...prefix })
    }
    return listenFastify(app)
  }
  if (start.type === 'requestHandler') {
    // A framework's server build behind its runtime's request listener (request-handler.cjs,
    // written next to this file by watt-stub).
    const listener = await require('./request-handler.cjs')(start)
    return http.createServer(listener).listen()
  }
  // A capability through its own package, the way Watt's runtime starts it (capability.cjs).
  if (start.type === 'capability') return require('./capability.cjs')(id, start)
  if (start.type !== 'node') throw new Error(`service "${id}": unknown start type ${start.type}`)

  // Watt's node capability.
  const mod = await import(pathToFileURL(start.entry).href)
  const closeExport = mod.close
  if (typeof closeExport === 'function') appClose = closeExport
  if (listened) return // a script that listens by itself
  const factory = [mod.create, mod.build, mod.default?.create, mod.default?.build]
    .find((f) => typeof f === 'function')
  const app = factory ? await factory() : mod.default
  if (listened) return
  if (isFastify(app)) return listenFastify(app)
  // Express, Koa, http.Server, net.Server: listen() is redirected to the stub's socket.
  if (app && typeof app.listen === 'function') return app.listen()
  if (factory) throw new Error(`service "${id}": ${factory.name || 'create'}() returned no app or server to listen on`)
  if (typeof app === 'function') {
    // A default-exported Fastify plugin (Watt waits forever on these).
    if (!start.fastify) {
      throw new Error(`service "${id}" exports a Fastify plugin but has no fastify dependency; add fastify to its package.json`)
    }
    const fastify = createFastify(start.fastify)
    fastify.register(app)
    return listenFastify(fastify)
  }
  // A script that listens later, asynchronously: the listen patch reports it.
}

function isFastify (app) {
  return app && typeof app.listen === 'function' && (typeof app.ready === 'function' || app.server)
}

function listenFastify (app) {
  fastifyApp = app
  // Redirected to fd 3; the values only keep Fastify from resolving `localhost`.
  return app.listen({ port: 0, host: '127.0.0.1' })
}

function createFastify (dir) {
  const fastify = require(dir)
  return fastify({ logger: { level: process.env.PLT_SERVER_LOGGER_LEVEL || 'info' } })
}

async function load (path) {
  const mod = await import(pathToFileURL(path).href)
  const plugin = mod.default ?? mod
  if (typeof plugin !== 'function') throw new Error(`${path} does not export a Fastify plugin function`)
  return plugin
}
