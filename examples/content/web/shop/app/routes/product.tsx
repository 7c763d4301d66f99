import { Link, useLoaderData } from 'react-router'
import { getInfo } from '../api'

export async function loader ({ params }: { params: { id?: string } }) {
  const info = await getInfo()
  const product = info.products.find((p) => p.id === params.id)
  if (!product) throw new Response('no such product', { status: 404 })
  return { product }
}

export default function Product () {
  const { product } = useLoaderData<typeof loader>()
  return (
    <main>
      <h1>{product.name}</h1>
      <p>Price: {product.price}</p>
      <Link to='/'>Back to the shop</Link>
    </main>
  )
}
