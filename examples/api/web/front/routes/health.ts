import type { FastifyInstance } from 'fastify'

interface Health {
  status: 'ok'
  pid: number
}

export default async function (app: FastifyInstance): Promise<void> {
  app.get('/health', async (): Promise<Health> => ({ status: 'ok', pid: process.pid }))
}
