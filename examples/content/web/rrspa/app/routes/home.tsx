import { Link } from 'react-router'

export default function Home () {
  return (
    <main>
      <h1>React Router SPA</h1>
      <p><Link to='/some/route'>A client route</Link></p>
    </main>
  )
}
