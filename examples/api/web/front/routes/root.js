import http from 'node:http'

// `http.get` on purpose: Watt's own mesh only serves fetch.
function getJson (url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`${url} answered ${res.statusCode}`))
        resolve(JSON.parse(body))
      })
    }).on('error', reject)
  })
}

export default async function (app, opts) {
  app.get('/', async () => ({ service: 'front', greeting: opts.greeting || 'hello' }))

  app.get('/summary', async () => {
    const [items, clock] = await Promise.all([
      fetch('http://catalog.plt.local/items').then((r) => r.json()),
      getJson('http://clock.plt.local/time')
    ])
    return { items: items.items.map((i) => i.name), itemsBuiltBy: items.builtBy, clock: clock.service, now: clock.now }
  })
}
