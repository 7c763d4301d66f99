'use strict'
// Serves a framework's server build (React Router 7, Remix 2) through the app's own runtime
// package, the way `react-router-serve` / `remix-serve` would, minus the static files (the stub
// serves the client folder itself, in front of this process).
//
// Contract with the launcher:
//   const listener = await require('./request-handler.cjs')(start)
//   start = { type: 'requestHandler', build: '/abs/build/server/index.js',
//             runtime: 'react-router' | 'remix', runtimePackage: '/abs/node_modules/@react-router/node' }
//   listener is a node:http `(req, res)` request listener; the launcher serves it with
//   http.createServer(listener).listen().

const { pipeline } = require('node:stream/promises')
const { Readable } = require('node:stream')
const { pathToFileURL } = require('node:url')

module.exports = async function createRequestListener (start) {
  // What react-router-serve and remix-serve do: React and the frameworks pick their
  // production code paths from NODE_ENV.
  process.env.NODE_ENV ??= 'production'
  const build = await import(pathToFileURL(start.build).href)
  const runtime = require(start.runtimePackage)
  switch (start.runtime) {
    case 'react-router':
      return reactRouter(build, runtime, start)
    case 'remix':
      return remix(build, runtime, start)
    default:
      throw new Error(`request handler: unknown runtime ${JSON.stringify(start.runtime)} (expected react-router or remix)`)
  }
}

function reactRouter (build, runtime, start) {
  // @react-router/node ≥ 7.0: a node:http listener around react-router's request handler.
  if (typeof runtime.createRequestListener === 'function') {
    return runtime.createRequestListener({ build, mode: process.env.NODE_ENV })
  }
  // Older releases: react-router's fetch handler, converted here. react-router is a peer of
  // @react-router/node, so it resolves from there.
  const { createRequire } = require('node:module')
  const { createRequestHandler } = createRequire(`${start.runtimePackage}/package.json`)('react-router')
  if (typeof createRequestHandler !== 'function') {
    throw new Error(`${start.runtimePackage} has no createRequestListener and react-router no createRequestHandler`)
  }
  return fetchListener(createRequestHandler(build, process.env.NODE_ENV))
}

function remix (build, runtime, start) {
  // @remix-run/node re-exports @remix-run/server-runtime's createRequestHandler, which takes a
  // web Request; the node:http conversion is what @remix-run/express does.
  if (typeof runtime.createRequestHandler !== 'function') {
    throw new Error(`${start.runtimePackage} does not export createRequestHandler; is it @remix-run/node 2.x?`)
  }
  return fetchListener(runtime.createRequestHandler(build, process.env.NODE_ENV))
}

// A node:http listener around a fetch-style `(Request) => Promise<Response>` handler.
function fetchListener (handle) {
  return async function listener (req, res) {
    const controller = new AbortController()
    res.on('close', () => {
      if (!res.writableFinished) controller.abort()
    })
    let response
    try {
      response = await handle(toRequest(req, controller.signal))
    } catch (err) {
      console.error(err)
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
        res.end('Internal Server Error')
      } else {
        res.destroy(err)
      }
      return
    }
    await send(req, res, response)
  }
}

function toRequest (req, signal) {
  const proto = forwarded(req.headers['x-forwarded-proto']) || (req.socket.encrypted ? 'https' : 'http')
  const host = forwarded(req.headers['x-forwarded-host']) || req.headers.host || 'localhost'
  const url = new URL(req.url, `${proto}://${host}`)
  const headers = new Headers()
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]
    // HTTP/2 pseudo-headers are not valid header names.
    if (!name.startsWith(':')) headers.append(name, req.rawHeaders[i + 1])
  }
  const init = { method: req.method, headers, signal }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    init.body = Readable.toWeb(req)
    init.duplex = 'half'
  }
  return new Request(url, init)
}

function forwarded (value) {
  return typeof value === 'string' ? value.split(',')[0].trim() : undefined
}

async function send (req, res, response) {
  const headers = {}
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') headers[name] = value
  }
  const cookies = response.headers.getSetCookie()
  if (cookies.length) headers['set-cookie'] = cookies
  if (response.statusText) res.writeHead(response.status, response.statusText, headers)
  else res.writeHead(response.status, headers)
  if (!response.body || req.method === 'HEAD') {
    res.end()
    return
  }
  // Streamed as it comes (React renders progressively).
  res.flushHeaders()
  try {
    await pipeline(Readable.fromWeb(response.body), res)
  } catch (err) {
    // The client went away, or the body errored half way: nothing more can be sent.
    if (err?.code !== 'ERR_STREAM_PREMATURE_CLOSE') console.error(err)
    res.destroy()
  }
}
