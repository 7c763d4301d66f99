import node from '@astrojs/node'
import { defineConfig } from 'astro/config'

// Server-rendered with @astrojs/node in middleware mode: the server build only exports
// `handler(req, res, next)`; watt serves it with node:http. The base path comes from Watt
// (`application.basePath`), passed to `astro build --base /mw/` by watt.
export default defineConfig({
  output: 'server',
  adapter: node({ mode: 'middleware' }),
  build: {
    // Ship the stylesheet as a hashed file under _astro/, served by watt-stub.
    inlineStylesheets: 'never'
  }
})
