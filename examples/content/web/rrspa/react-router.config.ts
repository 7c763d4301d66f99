import type { Config } from '@react-router/dev/config'

// SPA mode: no server build, only build/client (index.html + hashed assets), served by
// watt-stub with index.html as the fallback for every path under /rrspa.
const config: Config = {
  ssr: false,
  basename: '/rrspa'
}

export default config
