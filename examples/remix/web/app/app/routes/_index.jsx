import { json } from '@remix-run/node'
import { Form, useLoaderData } from '@remix-run/react'

// Both run on the server, per request, and talk to the API over the Watt mesh.
export async function loader () {
  const [greeting, notes] = await Promise.all([
    fetch('http://api.plt.local/greeting').then((r) => r.json()),
    fetch('http://api.plt.local/notes').then((r) => r.json())
  ])
  return json({ greeting, notes })
}

export async function action ({ request }) {
  const form = await request.formData()
  const r = await fetch('http://api.plt.local/notes', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ note: form.get('note') })
  })
  const body = await r.json()
  return json(body, { status: r.status })
}

export const meta = () => [{ title: 'Remix on watt-stub' }]

export default function Index () {
  const { greeting, notes } = useLoaderData()
  return (
    <main>
      <h1>Remix on watt-stub</h1>
      <p>Message: <strong id='message'>{greeting.message}</strong></p>
      <p>API pid: <strong id='api-pid'>{greeting.pid}</strong></p>
      <p>Rendered at <time>{greeting.at}</time></p>
      <ul id='notes'>
        {notes.map((n, i) => <li key={i}>{n}</li>)}
      </ul>
      <Form method='post'>
        <input name='note' />
        <button type='submit'>Add a note</button>
      </Form>
    </main>
  )
}
