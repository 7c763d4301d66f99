import { useParams } from 'react-router'

// A client-only route: a deep link to it gets index.html from watt-stub, then the router renders it.
export default function Some () {
  const { name } = useParams()
  return <h1>Client route <strong id='route-name'>{name}</strong></h1>
}
