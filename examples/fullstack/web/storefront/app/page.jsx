import Cart from './cart.jsx'

// Rendered on every request: the data comes from the API service over Watt's mesh.
export const dynamic = 'force-dynamic'

async function getCatalog () {
  const res = await fetch('http://api.plt.local/products', { cache: 'no-store' })
  if (!res.ok) throw new Error(`api answered ${res.status}`)
  return res.json()
}

export default async function Home () {
  const catalog = await getCatalog()
  return (
    <main data-store={catalog.store} data-api-pid={catalog.servedBy} data-api-hit={catalog.hit}>
      <h1>{catalog.store}</h1>
      <img src='/logo.svg' alt='' width={48} height={48} />
      <ul>
        {catalog.products.map((p) => (
          <li className='product' key={p.id}>
            <span>{p.name}</span>
            <span>${p.price}</span>
          </li>
        ))}
      </ul>
      <Cart />
    </main>
  )
}
