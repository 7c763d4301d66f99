import './style.css'

// A tiny client-side router: every path under /spa/ is this page, so deep links must be
// answered with index.html by the server.
const base = import.meta.env.BASE_URL
const route = location.pathname.startsWith(base) ? location.pathname.slice(base.length) : ''
const app = document.querySelector('#app')

app.innerHTML = route === ''
  ? '<h1>SPA home</h1><p><a href="deep/link">A deep link</a></p><p id="info"></p>'
  : `<h1>SPA route: ${route.replace(/[<>&]/g, '')}</h1>`

const info = document.querySelector('#info')
if (info) {
  fetch('/api/info')
    .then((r) => r.json())
    .then((i) => { info.textContent = `API edition ${i.edition}, ${i.products.length} products` })
    .catch(() => { info.textContent = 'API unavailable' })
}
