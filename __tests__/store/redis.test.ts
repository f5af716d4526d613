import { runStoreContract } from './contract'
import { openRedisStore } from '../../src/store/redis'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'

let server: RedisServer

beforeAll(async () => {
  server = await startRedisServer()
})

afterAll(async () => {
  await server?.stop()
})

runStoreContract('redis', async () => {
  const store = await openRedisStore({ url: server.url })
  return { store, cleanup: () => store.close() }
})
