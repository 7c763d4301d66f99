// GET /info: what the other services render. `pid` and `edition` make it recognisable: the
// edition comes from the environment the app was started with (plugin option "{CONTENT_EDITION}").
export default async function (app, opts) {
  app.get('/info', async () => ({
    service: 'api',
    pid: process.pid,
    edition: opts.edition || 'unset',
    products: [
      { id: 'anvil', name: 'Anvil', price: 120 },
      { id: 'bellows', name: 'Bellows', price: 45 },
      { id: 'crucible', name: 'Crucible', price: 80 }
    ],
    servedAt: new Date().toISOString()
  }))
}
