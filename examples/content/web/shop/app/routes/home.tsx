import { Link, useLoaderData } from 'react-router'
import { getInfo } from '../api'

export function meta () {
  return [{ title: 'The shop' }]
}

export async function loader () {
  const info = await getInfo()
  return { edition: info.edition, pid: info.pid, products: info.products }
}

export default function Home () {
  const { edition, pid, products } = useLoaderData<typeof loader>()
  return (
    <main>
      <h1>The shop</h1>
      <p>Catalogue edition <strong id='edition'>{edition}</strong> from api pid <strong id='api-pid'>{pid}</strong>.</p>
      <ul>
        {products.map((p) => (
          <li key={p.id}><Link to={`/products/${p.id}`}>{p.name}</Link></li>
        ))}
      </ul>
    </main>
  )
}
