const http = require('node:http')
const ms = require('ms')

const started = Date.now()

// Listens on a port of its own choosing; Watt (and watt-stub) redirect it.
const server = http.createServer((req, res) => {
  if (req.url === '/time') {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ service: 'clock', now: new Date().toISOString(), up: ms(Date.now() - started) }))
    return
  }
  res.statusCode = 404
  res.end('not found')
})

server.listen(4000, () => console.log(`clock listening on ${server.address().port}`))

process.on('SIGTERM', () => {
  console.log('clock stopping')
  server.close(() => process.exit(0))
})
