/**
 * Load: 8 concurrent clients over real HTTP, 200,000 mixed add/remove operations with one writer per
 * member (each client owns a disjoint range of members and its own seeded order of operations), on
 * each store. The final state, read through the streamed and cursor-paged members endpoint, must
 * equal the model exactly. `RELIABILITY_REPORT=1` prints the figures.
 */
import { openRedisStore } from '../../src/store/redis'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'
import { byteOrder, type LiveReceiver, PROD_ID, prng, readMembers, startReceiver, TOKENS } from './helpers'

jest.setTimeout(120_000)

const CLIENTS = 8
const MEMBERS_PER_CLIENT = 3_000
const REQUESTS_PER_CLIENT = 100
const OPS_PER_REQUEST = 250
const COHORTS = ['load-a', 'load-b']

interface Op {
  userId: string
  cohortId: string
  value: boolean
}

/** Client k's requests: members of its own range only, adds and removes in its own seeded order. */
function plan(client: number): Op[][] {
  const random = prng(1000 + client)
  return Array.from({ length: REQUESTS_PER_CLIENT }, () =>
    Array.from({ length: OPS_PER_REQUEST }, () => ({
      userId: `c${client}-m${Math.floor(random() * MEMBERS_PER_CLIENT)}`,
      cohortId: COHORTS[Math.floor(random() * COHORTS.length)],
      // More adds than removes, so the segments end up large.
      value: random() < 0.6
    }))
  )
}

async function run(receiver: LiveReceiver): Promise<void> {
  const plans = Array.from({ length: CLIENTS }, (_, k) => plan(k))
  const model = new Map(COHORTS.map((c) => [c, new Map<string, boolean>()]))
  for (const requests of plans) for (const ops of requests) for (const op of ops) model.get(op.cohortId)?.set(op.userId, op.value)

  const started = Date.now()
  const statuses = new Map<number, number>()
  const latencies: number[] = []
  await Promise.all(
    plans.map(async (requests) => {
      for (const ops of requests) {
        const body = JSON.stringify({ environmentId: PROD_ID, batch: ops.map((op) => ({ ...op, cohortName: op.cohortId })) })
        const sent = Date.now()
        const response = await fetch(`${receiver.url}/api/v2/segment-targets/segment-audiences`, {
          method: 'POST',
          headers: { authorization: TOKENS.writer, 'content-type': 'application/json' },
          body
        })
        await response.arrayBuffer()
        latencies.push(Date.now() - sent)
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
      }
    })
  )
  const elapsed = Date.now() - started
  expect(Object.fromEntries(statuses)).toEqual({ 204: CLIENTS * REQUESTS_PER_CLIENT })

  for (const cohortId of COHORTS) {
    const expected = byteOrder([...(model.get(cohortId) ?? [])].filter(([, included]) => included).map(([key]) => key))
    const members = await readMembers(receiver, 'acme/production', `segment-audiences-${cohortId}`, 5_000)
    expect(members.length).toBe(expected.length)
    expect(members).toEqual(expected)
  }
  if (process.env.RELIABILITY_REPORT) {
    latencies.sort((a, b) => a - b)
    const ops = CLIENTS * REQUESTS_PER_CLIENT * OPS_PER_REQUEST
    console.log(
      `load: ${ops} ops in ${CLIENTS * REQUESTS_PER_CLIENT} requests by ${CLIENTS} clients in ${elapsed} ms ` +
        `(${Math.round((ops / elapsed) * 1000)} ops/s), p50 ${latencies[latencies.length >> 1]} ms, ` +
        `p99 ${latencies[Math.floor(latencies.length * 0.99)]} ms; final members ${COHORTS.map((c) => [...(model.get(c) ?? [])].filter(([, v]) => v).length).join(' + ')}`
    )
  }
}

it('makes 200,000 operations', () => {
  expect(CLIENTS * REQUESTS_PER_CLIENT * OPS_PER_REQUEST).toBe(200_000)
})

it('SQLite: 8 concurrent clients, the final state equals the model exactly', async () => {
  const receiver = await startReceiver()
  try {
    await run(receiver)
  } finally {
    await receiver.close()
  }
})

describe('Redis', () => {
  let redis: RedisServer
  beforeAll(async () => {
    redis = await startRedisServer()
  })
  afterAll(() => redis.stop())

  it('8 concurrent clients, the final state equals the model exactly', async () => {
    const store = await openRedisStore({ url: redis.url })
    const receiver = await startReceiver({ store })
    try {
      await run(receiver)
    } finally {
      await receiver.close()
      await store.close()
    }
  })
})
