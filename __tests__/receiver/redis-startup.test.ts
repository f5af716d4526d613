/**
 * Starting a receiver on Redis: one key prefix per environment (LaunchDarkly's SDKs read one
 * environment's big segments per prefix), checked before Redis is even contacted; and a start-up
 * warning when Redis would lose acknowledged writes in a crash (no append-only persistence).
 */
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Redis from 'ioredis'
import { serve } from '../../src/cli/serve'
import {
  checkRedisPrefixes,
  ConfigError,
  createReceiver,
  parseConfig,
  type Receiver
} from '../../src/receiver/index'
import { startRedisServer, type RedisServer } from '../helpers/redis-server'
import { captureLog, tempDir, testConfig } from './app-helpers'

jest.setTimeout(60_000)

const dir = tempDir('receiver-redis-startup-')
const servers: RedisServer[] = []
const receivers: Receiver[] = []

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()))
  await Promise.all(servers.map((s) => s.stop()))
  rmSync(dir, { recursive: true, force: true })
})

/** Nothing listens here: reaching it would fail with "store unavailable", not a ConfigError. */
const NOWHERE = 'redis://127.0.0.1:1'

function configWith(
  prefixes: [string | undefined, string | undefined, string | undefined]
): Record<string, unknown> {
  const config = testConfig()
  const projects = config.projects as { environments: { redisPrefix?: string }[] }[]
  const envs = [projects[0].environments[0], projects[0].environments[1], projects[1].environments[0]]
  envs.forEach((env, i) => {
    if (prefixes[i] !== undefined) env.redisPrefix = prefixes[i]
  })
  return config
}

async function configError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as Error).message
  }
  throw new Error('expected a ConfigError')
}

describe('one Redis prefix per environment', () => {
  it('rejects two environments on the same explicit prefix, naming both and the prefix, before contacting Redis', async () => {
    const message = await configError(
      createReceiver({
        dataDir: join(dir, 'a'),
        store: NOWHERE,
        config: configWith(['shop', 'staging', 'shop'])
      })
    )
    expect(message).toContain('config option: invalid configuration for the Redis store')
    expect(message).toContain(
      'environments "acme/production" and "other/test" both use the Redis prefix "shop"'
    )
    expect(message).toContain('give each environment its own "redisPrefix"')
    expect(message).not.toContain('staging')
  })

  it('counts an environment without redisPrefix as the default prefix "launchdarkly"', async () => {
    const explicitDefault = await configError(
      createReceiver({
        dataDir: join(dir, 'b'),
        store: NOWHERE,
        config: configWith(['launchdarkly', 'staging', undefined])
      })
    )
    expect(explicitDefault).toContain(
      'environments "acme/production" and "other/test" both use the Redis prefix "launchdarkly" (the default when "redisPrefix" is not set)'
    )
    // None set: every pair after the first environment is reported.
    const noneSet = await configError(
      createReceiver({ dataDir: join(dir, 'c'), store: NOWHERE, config: testConfig() })
    )
    expect(noneSet).toContain('"acme/production" and "acme/staging" both use the Redis prefix "launchdarkly"')
    expect(noneSet).toContain('"acme/production" and "other/test" both use the Redis prefix "launchdarkly"')
  })

  it('names the configuration file when serve starts with one', async () => {
    const file = join(dir, 'shared-prefix.json')
    writeFileSync(file, JSON.stringify(configWith(['one', 'one', 'two'])))
    const message = await configError(
      serve(
        { port: 0, host: '127.0.0.1', data: join(dir, 'd'), store: NOWHERE, config: file },
        new Writable()
      )
    )
    expect(message).toContain(`${file}: invalid configuration for the Redis store`)
    expect(message).toContain('"acme/production" and "acme/staging" both use the Redis prefix "one"')
  })

  it('accepts distinct prefixes (one of them the default), and any prefixes on SQLite', async () => {
    expect(() =>
      checkRedisPrefixes(parseConfig(configWith([undefined, 'acme-staging', 'other-test'])))
    ).not.toThrow()
    const sqlite = await createReceiver({ dataDir: join(dir, 'e'), store: 'sqlite', config: testConfig() })
    receivers.push(sqlite)
    expect(sqlite.config.projects).toHaveLength(2)
  })
})

describe('append-only persistence', () => {
  async function serveOn(url: string, name: string): Promise<string> {
    const out = captureLog()
    // The development set-up: one environment on the default prefix, unaffected by the prefix rule.
    const receiver = await serve(
      { port: 0, host: '127.0.0.1', data: join(dir, name), store: url },
      out.stream
    )
    receivers.push(receiver)
    expect(receiver.credentials).toBeDefined()
    return out.log()
  }

  it('warns at start when Redis runs with appendonly no', async () => {
    const redis = await startRedisServer()
    servers.push(redis)
    const text = await serveOn(redis.url, 'no-aof')
    expect(text).toContain(
      `\n  warning       Redis at 127.0.0.1:${redis.port} has appendonly no: acknowledged writes since its last snapshot are lost if Redis crashes (set appendonly yes)\n`
    )
    expect(text.match(/warning/g)).toHaveLength(1)
  })

  it('says nothing when appendonly is yes', async () => {
    const redis = await startRedisServer({ appendonly: true })
    servers.push(redis)
    const text = await serveOn(redis.url, 'aof')
    expect(text).toContain(`store         redis://127.0.0.1:${redis.port}`)
    expect(text).not.toContain('warning')
  })

  it('starts without a warning when the server refuses CONFIG (as managed Redis services do)', async () => {
    const redis = await startRedisServer()
    servers.push(redis)
    const admin = new Redis(redis.url)
    try {
      await admin.call('ACL', 'SETUSER', 'receiver', 'on', '>receiver-secret', '~*', '&*', '+@all', '-config')
    } finally {
      admin.disconnect()
    }
    const text = await serveOn(`redis://receiver:receiver-secret@127.0.0.1:${redis.port}`, 'no-config')
    expect(text).toContain(`store         redis://***@127.0.0.1:${redis.port}`)
    expect(text).not.toContain('warning')
    // And it works: a sync through the restricted user lands.
    const receiver = receivers[receivers.length - 1]
    const credentials = receiver.credentials!
    const response = await receiver.app.inject({
      method: 'POST',
      url: '/api/v2/segment-targets/segment-audiences',
      headers: { authorization: credentials.token, 'content-type': 'application/json' },
      payload: {
        environmentId: credentials.clientSideId,
        batch: [{ userId: 'u1', cohortId: 'c1', cohortName: 'C1', value: true }]
      }
    })
    expect(response.statusCode).toBe(204)
  })
})
