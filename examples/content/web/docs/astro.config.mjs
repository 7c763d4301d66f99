import { defineConfig } from 'astro/config'

// A static site: no adapter, every page is an HTML file at build time. The base path comes from
// Watt (`application.basePath`), passed to `astro build --base /docs/` by watt.
export default defineConfig({
  output: 'static',
  build: {
    // Ship the stylesheet as a hashed file under _astro/ rather than inlined into the page.
    inlineStylesheets: 'never'
  }
})
