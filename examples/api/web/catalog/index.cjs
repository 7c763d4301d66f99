const path = require('node:path')
const express = require('express')

// Watt's node capability calls build() and starts the returned app itself.
module.exports.build = function build () {
  const data = require(path.join(__dirname, 'dist', 'items.json'))
  const app = express()
  app.get('/items', (req, res) => res.json(data))
  app.get('/items/:id', (req, res) => {
    const item = data.items.find((i) => String(i.id) === req.params.id)
    if (!item) return res.status(404).json({ error: 'not found' })
    res.json(item)
  })
  return app
}
