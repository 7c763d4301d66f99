import websocket from '@fastify/websocket'

const products = [
  { id: 1, name: 'Anvil', price: 120 },
  { id: 2, name: 'Bellows', price: 45 },
  { id: 3, name: 'Crucible', price: 30 }
]

// Counts requests so a page that shows it proves it asked at request time, not at build time.
let hits = 0

export default async function (app, opts) {
  await app.register(websocket)

  app.get('/products', async () => ({
    store: opts.storeName || 'Watt Hardware',
    servedBy: process.pid,
    hit: ++hits,
    products
  }))

  app.get('/products/:id', async (request, reply) => {
    const product = products.find((p) => String(p.id) === request.params.id)
    if (!product) return reply.code(404).send({ error: 'not found' })
    return product
  })

  // Echo, for the gateway's WebSocket pass-through.
  app.get('/ws', { websocket: true }, (socket) => {
    socket.on('message', (message) => socket.send(`echo: ${message}`))
  })
}
