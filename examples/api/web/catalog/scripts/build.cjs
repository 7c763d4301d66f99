// The build step writes the data the service serves, so a packed app that skipped it fails.
const fs = require('node:fs')
const path = require('node:path')

const items = ['anvil', 'bellows', 'crucible'].map((name, i) => ({ id: i + 1, name }))
fs.mkdirSync(path.join(__dirname, '..', 'dist'), { recursive: true })
fs.writeFileSync(
  path.join(__dirname, '..', 'dist', 'items.json'),
  JSON.stringify({ builtBy: 'npm run build', items }, null, 2) + '\n'
)
console.log(`wrote ${items.length} items`)
