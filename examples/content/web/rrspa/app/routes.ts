import { type RouteConfig, index, route } from '@react-router/dev/routes'

export default [
  index('routes/home.tsx'),
  route('some/:name', 'routes/some.tsx')
] satisfies RouteConfig
