// The API service, reached over the Watt mesh from the server side (loaders).
export interface Product { id: string, name: string, price: number }
export interface Info { pid: number, edition: string, products: Product[], servedAt: string }

export async function getInfo (): Promise<Info> {
  const response = await fetch('http://api.plt.local/info')
  if (!response.ok) throw new Response('the API is unavailable', { status: 502 })
  return response.json()
}
