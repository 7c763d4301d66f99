import node from '@astrojs/node'
import { defineConfig } from 'astro/config'

// Server-rendered: every request renders the page, which asks the API over the Watt mesh.
export default defineConfig({
  output: 'server',
  adapter: node({ mode: 'standalone' })
})
