'use strict'
// `globalThis.platformatic` at run time, the way Watt's worker fills it before an application's
// code runs (packages/runtime/lib/worker/main.js, worker/itc.js, worker/messaging.js,
// worker/shared-context.js; packages/basic/lib/capability.js registers the fields and setters,
// packages/node/lib/capability.js `basePath`). Apps read it directly or through
// `@platformatic/globals`, whose getters throw for a field missing from the
// `Symbol.for('plt.globals.fields')` set, so every field is registered there.
//
// What needs the rest of the app goes through the stub, over fd 5 (a unix socket; one JSON
// object a line, see ARCHITECTURE.md "The relay"): `messaging` between services,
// `sharedContext`, and the stub asking for the custom readiness and health checks its /ready
// and /status follow. A message's data crosses as a structured clone, as between Watt's workers
// (a MessagePort there): v8's serializer, base64 in the JSON line (see `clone`). The shared
// context stays JSON: the stub merges it.
//
// install(launch) is called by launcher.cjs with WATT_LAUNCH's `globals`:
//   {applicationId, workerId, root (abs path), basePath|null, config, host, port, isEntrypoint,
//    logLevel, wantsAbsoluteUrls}

const net = require('node:net')
const v8 = require('node:v8')
const os = require('node:os')
const util = require('node:util')
const { EventEmitter } = require('node:events')
const { pathToFileURL } = require('node:url')

const RELAY_FD = 5
// Watt's default `messagingTimeout` (packages/foundation/lib/schema.js).
const MESSAGING_TIMEOUT_MS = 30000
const kFields = Symbol.for('plt.globals.fields')
// Marks the SIGTERM listener below, so the launcher still knows whether the app handles
// SIGTERM itself.
const kInternal = Symbol.for('watt-stub.internal')

function update (values) {
  const g = (globalThis.platformatic ??= {})
  g[kFields] ??= new Set()
  for (const [key, value] of Object.entries(values)) {
    g[key] = value
    g[kFields].add(key)
  }
  return g
}

// Watt's placeholder rule (`{NAME}`, `{{NAME}}`, case-insensitive; unset → ''), applied to the
// service's config with the service's final environment, as Watt loads it.
function fill (value) {
  if (typeof value === 'string') {
    return value.replace(/\{{1,2}([a-z0-9_]+)\}{1,2}/gi, (_, name) => process.env[name] ?? '')
  }
  if (Array.isArray(value)) return value.map(fill)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v)]))
  }
  return value
}

// A pino-compatible logger (the methods Fastify's `loggerInstance` and Watt's packages call)
// writing pino's JSON lines to stdout, where the stub tags them with the service id.
const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }
const LABELS = Object.fromEntries(Object.entries(LEVELS).map(([k, v]) => [v, k]))

// `serializers` as pino's: applied to the fields of that name (Fastify gives its `req`/`res`).
function createLogger (bindings, level, serializers = { err: (e) => (e instanceof Error ? serializeError(e) : e) }) {
  let min = level === 'silent' ? Infinity : (LEVELS[level] ?? LEVELS.info)
  const logger = {
    get level () {
      return min === Infinity ? 'silent' : LABELS[min]
    },
    set level (l) {
      if (l === 'silent') min = Infinity
      else if (l in LEVELS) min = LEVELS[l]
    },
    levels: { values: { ...LEVELS }, labels: { ...LABELS } },
    isLevelEnabled: (l) => LEVELS[l] >= min,
    bindings: () => ({ ...bindings }),
    child: (more, options) => {
      const all = { ...serializers, ...options?.serializers }
      return createLogger({ ...bindings, ...serialize(more ?? {}, all) }, options?.level ?? logger.level, all)
    },
    flush: (cb) => cb?.(),
    silent () {}
  }
  for (const [name, value] of Object.entries(LEVELS)) {
    logger[name] = (...args) => {
      if (value >= min) writeLine(value, bindings, serializers, args)
    }
  }
  return logger
}

function serializeError (err) {
  return { type: err.name, message: err.message, stack: err.stack, ...(err.code ? { code: err.code } : {}) }
}

function serialize (fields, serializers) {
  const out = { ...fields }
  for (const key of Object.keys(out)) {
    if (typeof serializers[key] === 'function') out[key] = serializers[key](out[key])
  }
  return out
}

function writeLine (level, bindings, serializers, args) {
  let fields = {}
  let msg
  if (args[0] !== null && typeof args[0] === 'object') {
    const first = args.shift()
    if (first instanceof Error) {
      fields = { err: serializeError(first) }
      msg = first.message
    } else {
      fields = serialize(first, serializers)
    }
  }
  if (args.length > 0) msg = util.format(...args)
  const line = { level, time: Date.now(), pid: process.pid, hostname: os.hostname(), ...bindings, ...fields }
  if (msg !== undefined) line.msg = msg
  // As pino's safe-stable-stringify: a cycle is a string, never a thrown log call.
  const seen = new WeakSet()
  const text = JSON.stringify(line, (_, v) => {
    if (typeof v === 'bigint') return v.toString()
    if (v === null || typeof v !== 'object') return v
    if (seen.has(v)) return '[Circular]'
    seen.add(v)
    return v
  })
  process.stdout.write(text + '\n')
}

// The channel to the stub: requests wait for their `reply`, the stub's own requests
// (`request`, `check`) are answered here.
function connect (onMessage) {
  let socket
  try {
    socket = new net.Socket({ fd: RELAY_FD, readable: true, writable: true })
  } catch {
    return null
  }
  // Never what crashes a process, nor what keeps it alive unless it waits for an answer.
  socket.unref()
  socket.on('error', () => {})
  socket.setEncoding('utf8')
  let buffered = ''
  socket.on('data', (chunk) => {
    buffered += chunk
    let nl
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (line) {
        try {
          onMessage(JSON.parse(line))
        } catch (err) {
          console.error('watt-stub relay: a message could not be handled', err)
        }
      }
    }
  })
  const send = (message) => {
    if (!socket.destroyed) socket.write(JSON.stringify(message) + '\n')
  }
  send.waiting = (n) => (n > 0 ? socket.ref() : socket.unref())
  return send
}

// A message's data as the relay carries it, and back. v8.serialize is the serializer behind
// postMessage's structured clone: Dates, Maps, Sets, BigInts, typed arrays, `undefined` and
// cycles arrive as themselves, and a function throws a DataCloneError at the sender, as in Watt.
const clone = {
  pack: (data) => ({ v8: v8.serialize(sanitize(data)).toString('base64') }),
  unpack: (packed) => (typeof packed?.v8 === 'string' ? v8.deserialize(Buffer.from(packed.v8, 'base64')) : packed)
}

// What Watt's ITC does to a message before postMessage (@platformatic/itc `sanitize`): function
// and symbol values of plain objects and arrays are dropped rather than refused, at any depth,
// and an Error holding such a value becomes a plain object of its safe properties. What needs
// nothing dropped is passed as it is (a Map, a Date, a class instance: the clone decides).
function sanitize (data) {
  if (!data || typeof data !== 'object' || ArrayBuffer.isView(data)) return data
  if (data instanceof Error) return sanitizeError(data)
  const array = Array.isArray(data)
  const entries = array ? [...data.entries()] : Object.entries(data)
  let copy = null
  entries.forEach(([key, value], i) => {
    const dropped = typeof value === 'function' || typeof value === 'symbol'
    const clean = dropped ? value : sanitize(value)
    if (!copy && (dropped || clean !== value)) {
      copy = array ? data.slice(0, i) : Object.fromEntries(entries.slice(0, i))
    }
    if (copy && !dropped) {
      if (array) copy.push(clean)
      else copy[key] = clean
    }
  })
  return copy ?? data
}

function sanitizeError (error) {
  const unsafe = Object.values(error).some((v) =>
    typeof v === 'function' || typeof v === 'symbol' || (v && typeof v === 'object' && sanitize(v) !== v))
  if (!unsafe) return error
  const out = {}
  for (const key of ['message', 'name', 'stack', 'code', 'statusCode']) {
    if (error[key]) out[key] = error[key]
  }
  for (const [key, value] of Object.entries(error)) {
    if (key in out || typeof value === 'function' || typeof value === 'symbol') continue
    out[key] = sanitize(value)
  }
  return out
}

function toError (e) {
  const err = new Error(e?.message ?? 'failed')
  if (e?.code) err.code = e.code
  if (e?.name) err.name = e.name
  return err
}

function install (info) {
  const pending = new Map()
  const handlers = new Map()
  let nextId = 0
  let context = null
  let readinessCheck = null
  let healthCheck = null
  // Kept in the process: Watt hands them to its management API and to a gateway's meta; the
  // packed app has neither at run time (its gateway routes were fixed at build time).
  const kept = { openapiSchema: null, graphqlSchema: null, connectionString: null }

  const send = connect(onMessage)

  function request (message, to) {
    if (!send) return Promise.reject(new Error('watt-stub relay: this process has no channel to the stub'))
    const id = ++nextId
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id)
        send.waiting(pending.size)
        reject(new Error(`Cannot send a message to application "${to}": Timeout while waiting for a response.`))
      }, MESSAGING_TIMEOUT_MS).unref()
      pending.set(id, { resolve, reject, timer })
      send.waiting(pending.size)
      send({ ...message, id })
    })
  }

  async function answer (id, run) {
    try {
      send({ t: 'reply', id, data: await run() })
    } catch (err) {
      send({ t: 'reply', id, error: { message: err?.message ?? String(err), code: err?.code, name: err?.name } })
    }
  }

  async function check (kind) {
    // A capability run through its own package keeps its checks itself (its constructor
    // replaces these setters, packages/basic/lib/capability.js).
    const capability = globalThis.platformatic?.capability
    const own = kind === 'readiness' ? 'getCustomReadinessCheck' : 'getCustomHealthCheck'
    if (capability && typeof capability[own] === 'function') return capability[own]()
    const fn = kind === 'readiness' ? readinessCheck : healthCheck
    return fn ? fn() : true
  }

  function onMessage (m) {
    switch (m.t) {
      case 'reply': {
        const p = pending.get(m.id)
        if (!p) return
        pending.delete(m.id)
        send.waiting(pending.size)
        clearTimeout(p.timer)
        if (m.error) p.reject(toError(m.error))
        else p.resolve(m.data)
        return
      }
      case 'request':
        return answer(m.id, () => {
          const handler = handlers.get(m.name)
          if (!handler) throw Object.assign(new Error(`Handler not found for request: "${m.name}"`), { code: 'PLT_ITC_HANDLER_NOT_FOUND' })
          return Promise.resolve(handler(clone.unpack(m.data), { application: m.from })).then(clone.pack)
        })
      case 'notify': {
        const handler = handlers.get(m.name)
        if (!handler) return logger.error(`Handler for the "${m.name}" message is missing.`)
        Promise.resolve()
          .then(() => handler(clone.unpack(m.data), { application: m.from, notification: true }))
          .catch((error) => logger.error({ error }, `Handler for the "${m.name}" message failed.`))
        return
      }
      case 'context':
        context = m.data
        return
      case 'check':
        return answer(m.id, async () => {
          try {
            return await check(m.kind)
          } catch (err) {
            logger.error({ err }, `The custom ${m.kind} check failed`)
            return false
          }
        })
    }
  }

  const logger = createLogger({}, info.logLevel || process.env.PLT_SERVER_LOGGER_LEVEL || 'info')
  const events = new EventEmitter()
  // Watt's events also reach its runtime; the stub has no listener for them.
  events.emitAndNotify = events.emit.bind(events)

  const messaging = {
    send: async (application, name, data, _options) =>
      clone.unpack(await request({ t: 'send', to: application, name, data: clone.pack(data) }, application)),
    notify: (application, name, data, _options) => {
      send?.({ t: 'notify', to: application, name, data: clone.pack(data) })
    },
    handle: (name, handler) => {
      if (name && typeof name === 'object') {
        for (const [n, h] of Object.entries(name)) handlers.set(n, h)
      } else {
        handlers.set(name, handler)
      }
    }
  }

  const sharedContext = {
    // As Watt's: a promise until the first value is known, then the value, kept current by the
    // stub's broadcasts.
    get: () => {
      context ??= request({ t: 'context.get' }, 'the runtime').then((data) => {
        if (context instanceof Promise) context = data
        return data
      })
      return context
    },
    update: (contextUpdate, options = {}) =>
      request({ t: 'context.update', context: contextUpdate, overwrite: options.overwrite === true }, 'the runtime')
  }

  const noop = () => {}
  update({
    isBuilding: false,
    executable: process.execPath,
    runtimeId: process.pid,
    exitOnUnhandledErrors: true,
    reuseTcpPorts: false,
    host: info.host,
    port: info.port,
    additionalServerOptions: {},
    telemetryConfig: null,
    config: fill(info.config ?? {}),
    runtimeConfig: {},
    applicationConfig: null,
    applicationId: info.applicationId,
    workerId: info.workerId,
    root: pathToFileURL(info.root).toString(),
    isEntrypoint: info.isEntrypoint,
    basePath: info.basePath ?? null,
    runtimeBasePath: null,
    wantsAbsoluteUrls: info.wantsAbsoluteUrls === true,
    logger,
    logLevel: logger.level,
    interceptLogging: false,
    interceptors: {},
    events,
    messaging,
    sharedContext,
    closing: false,
    setBasePath: (path) => update({ basePath: path }),
    setOpenapiSchema: (schema) => { kept.openapiSchema = schema },
    setGraphqlSchema: (schema) => { kept.graphqlSchema = schema },
    setConnectionString: (connectionString) => { kept.connectionString = connectionString },
    setCustomHealthCheck: (fn) => { healthCheck = fn },
    setCustomReadinessCheck: (fn) => { readinessCheck = fn },
    sendHealthSignal: async () => {},
    notifyConfig: noop
  })

  // Watt marks the application as closing when its runtime starts stopping it.
  const closing = () => {
    if (globalThis.platformatic.closing) return
    update({ closing: true })
    events.emit('closing')
  }
  closing[kInternal] = true
  process.on('SIGTERM', closing)
  return { closing }
}

module.exports = { install, kInternal }
