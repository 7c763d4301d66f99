// A tiny API on node:http, no dependencies: watt-stub redirects its listen() to the socket it
// bound for the service, reachable from the other services as http://api.plt.local.
import { createServer } from 'node:http'

const notes = []

function send (res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

createServer(async (req, res) => {
  if (req.method === 'GET' && req.url === '/greeting') {
    return send(res, 200, {
      message: `Hello from the API, ${process.env.REMIX_EDITION ?? 'unnamed edition'}`,
      pid: process.pid,
      at: new Date().toISOString()
    })
  }
  if (req.url === '/notes') {
    if (req.method === 'GET') return send(res, 200, notes)
    if (req.method === 'POST') {
      let text = ''
      for await (const chunk of req) text += chunk
      const { note } = JSON.parse(text || '{}')
      if (typeof note !== 'string' || note.trim() === '') return send(res, 400, { error: 'note is required' })
      notes.push(note.trim())
      return send(res, 201, { count: notes.length })
    }
  }
  send(res, 404, { error: 'not found' })
}).listen(Number(process.env.PORT ?? 3001))
