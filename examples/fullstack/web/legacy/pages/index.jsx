// Pages router, rendered on every request: the data comes from the API service over Watt's mesh.
export async function getServerSideProps () {
  const res = await fetch('http://api.plt.local/products')
  if (!res.ok) throw new Error(`api answered ${res.status}`)
  return { props: { catalog: await res.json() } }
}

export default function Legacy ({ catalog }) {
  return (
    <main data-store={catalog.store} data-api-pid={catalog.servedBy} data-api-hit={catalog.hit}>
      <h1>{catalog.store} (legacy pages)</h1>
      <ul>
        {catalog.products.map((p) => (
          <li className='product' key={p.id}>
            <span>{p.name}</span>
            <span>${p.price}</span>
          </li>
        ))}
      </ul>
    </main>
  )
}
