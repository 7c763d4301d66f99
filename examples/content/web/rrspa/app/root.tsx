import { Links, Meta, Outlet, Scripts, ScrollRestoration } from 'react-router'

export function Layout ({ children }: { children: React.ReactNode }) {
  return (
    <html lang='en'>
      <head>
        <meta charSet='utf-8' />
        <meta name='viewport' content='width=device-width, initial-scale=1' />
        <Meta />
        <Links />
      </head>
      <body>
        {children}
        <ScrollRestoration />
        <Scripts />
      </body>
    </html>
  )
}

export default function App () {
  return <Outlet />
}

// Rendered into index.html at build time; the browser replaces it with the matched route.
export function HydrateFallback () {
  return <p id='rrspa-loading'>Loading the React Router SPA…</p>
}
