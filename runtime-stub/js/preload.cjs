'use strict'
// Loaded through NODE_OPTIONS by every node process of a packed Watt app (services, their workers
// and forks), so what it fixes holds in the whole process tree. Written by watt-stub.

const net = require('node:net')

// Started through the bundled dynamic loader, node reports the loader as its execPath, and
// frameworks fork workers with process.execPath: point it at the `node` shim instead.
if (process.env.WATT_NODE_EXEC_PATH) process.execPath = process.env.WATT_NODE_EXEC_PATH

// Mesh: `http://<id>.plt.local[:port]` reaches service <id> wherever it listens. Everything that
// opens TCP connections (fetch/undici, http.request, raw net) ends in Socket#connect, so the host
// is swapped there; the Host header keeps saying <id>.plt.local.
const mesh = JSON.parse(process.env.WATT_MESH || '{}')
const SUFFIX = '.plt.local'

function target (host) {
  if (typeof host !== 'string') return undefined
  host = host.toLowerCase().replace(/\.$/, '')
  if (!host.endsWith(SUFFIX)) return undefined
  const id = host.slice(0, -SUFFIX.length)
  return Object.hasOwn(mesh, id) ? mesh[id] : undefined
}

const connect = net.Socket.prototype.connect
net.Socket.prototype.connect = function (...args) {
  // net.connect() passes its normalized [options, cb] array, which carries a hidden symbol:
  // replace the options inside it rather than the array.
  const holder = Array.isArray(args[0]) ? args[0] : args
  const options = holder[0]
  if (options !== null && typeof options === 'object') {
    const t = target(options.host)
    if (t) {
      holder[0] = { ...options, host: t.host, port: t.port }
      delete holder[0].lookup
    }
  } else {
    // connect(port, host, cb)
    const t = target(args[1])
    if (t) {
      args[0] = t.port
      args[1] = t.host
    }
  }
  return connect.apply(this, args)
}
