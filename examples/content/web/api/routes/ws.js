// A WebSocket echo at /ws (the gateway exposes it as /api/ws).
import websocket from '@fastify/websocket'

export default async function (app) {
  await app.register(websocket)
  app.get('/ws', { websocket: true }, (socket) => {
    socket.on('message', (message) => socket.send(`echo: ${message}`))
  })
}
