import type { Config } from '@react-router/dev/config'

// Server-rendered, under the /shop prefix (application.basePath in watt.json).
const config: Config = {
  ssr: true,
  basename: '/shop'
}

export default config
