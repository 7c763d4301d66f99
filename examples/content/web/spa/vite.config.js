import { defineConfig } from 'vite'

// Built for the /spa/ prefix the gateway gives it (application.basePath in watt.json).
export default defineConfig({
  base: '/spa/'
})
