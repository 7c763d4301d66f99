import './globals.css'

export const metadata = {
  title: 'Watt Hardware',
  description: 'A Next.js storefront served by Watt'
}

export default function RootLayout ({ children }) {
  return (
    <html lang='en'>
      <body>{children}</body>
    </html>
  )
}
