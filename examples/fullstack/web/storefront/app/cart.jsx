'use client'

import { useState } from 'react'

export default function Cart () {
  const [count, setCount] = useState(0)
  return (
    <button type='button' onClick={() => setCount(count + 1)}>
      Cart: {count}
    </button>
  )
}
