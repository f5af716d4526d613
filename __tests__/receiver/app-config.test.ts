import { execFile } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  ConfigError,
  CREDENTIALS_FILE,
  DEFAULT_BODY_LIMIT_BYTES,
  devSetup,
  loadConfigFile,
  parseConfig
} from '../../src/receiver/config'
import { createReceiver } from '../../src/receiver/index'
import { audienceBody, get, sync, tempDir, testConfig, TOKENS } from './app-helpers'

const dirs: string[] = []
function dir(): string {
  const d = tempDir('receiver-config-')
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function configError(document: unknown): string {
  try {
    parseConfig(document, 'receiver.json')
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as Error).message
  }
  throw new Error('expected a ConfigError')
}

describe('parseConfig', () => {
  it('accepts the test configuration and fills in the default body limit', () => {
    const config = parseConfig(testConfig())
    expect(config.bodyLimitBytes).toBe(DEFAULT_BODY_LIMIT_BYTES)
    expect(config.bodyLimitBytes).toBe(10 * 1024 * 1024)
    expect(config.rateLimit).toBeUndefined()
    expect(config.projects.map((p) => p.key)).toEqual(['acme', 'other'])
    expect(parseConfig(testConfig({ rateLimit: { max: 10, windowMs: 1000 }, bodyLimitBytes: 2048 }))).toMatchObject({
      rateLimit: { max: 10, windowMs: 1000 },
      bodyLimitBytes: 2048
    })
  })

  it.each([
    [{ tokens: [] }, '(top level): missing required field "projects"'],
    [testConfig({ extra: 1 }), '(top level): unknown field "extra"'],
    [{ projects: [{ key: 'p', environments: [{ key: 'e' }] }], tokens: [] }, 'projects[0].environments[0]: missing required field "clientSideId"'],
    [{ projects: [{ key: 'has space', environments: [{ key: 'e', clientSideId: 'c' }] }], tokens: [] }, 'projects[0].key: must be a key of letters'],
    [testConfig({ tokens: [{ name: 't', token: 'long-enough-token', actions: 'all', environments: '*' }] }), 'tokens[0].actions: must be "*" or a non-empty list'],
    [testConfig({ tokens: [{ name: 't', token: 'long-enough-token', actions: ['deleteEverything'], environments: '*' }] }), 'tokens[0].actions[0]: must be one of createSegment, updateIncluded, updateExcluded, viewProject, deleteSegment, got "deleteEverything"'],
    [testConfig({ tokens: [{ name: 't', token: 'long-enough-token', actions: '*', environments: [] }] }), 'tokens[0].environments: must be "*" or a non-empty list of "project/environment"'],
    [testConfig({ tokens: [{ name: 't', token: 'short', actions: '*', environments: '*' }] }), 'tokens[0].token: must be at least 8 characters without spaces'],
    [testConfig({ tokens: [{ name: 't', token: 'long-enough-token', actions: '*', environments: ['acme'] }] }), 'tokens[0].environments[0]: must be "project/environment"'],
    [testConfig({ tokens: [{ name: 't', token: 'long-enough-token', actions: '*', environments: ['acme/nope'] }] }), 'tokens[0].environments[0]: unknown environment "acme/nope"'],
    [testConfig({ rateLimit: { max: 0, windowMs: 1000 } }), 'rateLimit.max: must be >= 1'],
    [testConfig({ rateLimit: { max: 1 } }), 'rateLimit: missing required field "windowMs"'],
    [testConfig({ bodyLimitBytes: 'big' }), 'bodyLimitBytes: must be integer'],
    [testConfig({ publicUrl: 'ftp://x' }), 'publicUrl: must be an http(s) URL']
  ].map((c) => c.slice(-1).concat(c[0])) as [string, unknown][])('names the field: %s', (expected, document) => {
    const message = configError(document)
    expect(message).toContain('receiver.json: invalid configuration:')
    expect(message).toContain(expected)
  })

  it('finds duplicates across sections without echoing token values', () => {
    const config = testConfig() as { projects: { key: string; environments: { key: string; clientSideId: string }[] }[]; tokens: { name: string; token: string }[] }
    config.projects[1].environments[0].clientSideId = config.projects[0].environments[0].clientSideId
    config.projects.push({ key: 'acme', environments: [{ key: 'x', clientSideId: 'unique-id' }] })
    config.tokens[1].token = config.tokens[0].token
    config.tokens[2].name = config.tokens[0].name
    const message = configError(config)
    expect(message).toContain('projects[1].environments[0].clientSideId: duplicate client-side ID')
    expect(message).toContain('projects[2].key: duplicate project key "acme"')
    expect(message).toContain('tokens[1].token: the same token is configured twice')
    expect(message).toContain('tokens[2].name: duplicate token name "writer"')
    expect(message).not.toContain(TOKENS.writer)
  })

  it('loadConfigFile names the file for unreadable or invalid JSON', () => {
    const d = dir()
    const file = join(d, 'receiver.json')
    expect(() => loadConfigFile(file)).toThrow(`${file}: cannot read the configuration`)
    writeFileSync(file, '{ "projects": ')
    expect(() => loadConfigFile(file)).toThrow(`${file}: not valid JSON`)
    writeFileSync(file, JSON.stringify(testConfig({ tokens: 'none' })))
    expect(() => loadConfigFile(file)).toThrow(`${file}: invalid configuration:\n  tokens: must be array`)
    writeFileSync(file, JSON.stringify(testConfig()))
    expect(loadConfigFile(file).tokens).toHaveLength(6)
  })
})

describe('development set-up', () => {
  it('creates credentials once with mode 0600 and reuses them on later starts', () => {
    const dataDir = join(dir(), 'data')
    const first = devSetup(dataDir)
    expect(first.created).toBe(true)
    expect(first.credentials).toEqual({
      projectKey: 'default',
      environmentKey: 'production',
      clientSideId: expect.stringMatching(/^[0-9a-f]{24}$/),
      token: expect.stringMatching(/^api-[0-9a-f-]{36}$/)
    })
    const file = join(dataDir, CREDENTIALS_FILE)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(first.credentials)
    expect(first.config).toMatchObject({
      projects: [{ key: 'default', environments: [{ key: 'production', clientSideId: first.credentials.clientSideId }] }],
      tokens: [{ token: first.credentials.token, actions: '*', environments: '*' }],
      bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES
    })

    const second = devSetup(dataDir)
    expect(second.created).toBe(false)
    expect(second.credentials).toEqual(first.credentials)
    expect(devSetup(join(dir(), 'data')).credentials.token).not.toBe(first.credentials.token)
  })

  it('tightens a credentials file that became readable by others, and refuses a corrupt one', () => {
    const dataDir = dir()
    const file = join(dataDir, CREDENTIALS_FILE)
    devSetup(dataDir)
    chmodSync(file, 0o644)
    devSetup(dataDir)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    writeFileSync(file, '{"token": 1}')
    expect(() => devSetup(dataDir)).toThrow(ConfigError)
    expect(() => devSetup(dataDir)).toThrow(file)
  })

  it('gives receivers starting at the same moment on one directory the same credentials', async () => {
    // Processes, not promises: devSetup is synchronous, so only processes really race. Each one
    // runs devSetup on fresh directories at agreed instants and prints the token or the error.
    const base = dir()
    const rounds = 25
    const script = `
      const { devSetup } = require(${JSON.stringify(join(__dirname, '../../src/receiver/config'))})
      const [start, rounds, base] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]]
      const out = []
      for (let r = 0; r < rounds; r++) {
        while (Date.now() < start + r * 25) {}
        try { out.push(devSetup(base + '/r' + r).credentials.token) } catch (e) { out.push('error: ' + e.message) }
      }
      process.stdout.write(JSON.stringify(out))`
    const start = Date.now() + 8_000
    const runs = Array.from({ length: 6 }, () =>
      new Promise<string[]>((resolve, reject) => {
        execFile(
          process.execPath,
          ['-r', 'ts-node/register/transpile-only', '-e', script, String(start), String(rounds), base],
          { cwd: join(__dirname, '../..'), env: { ...process.env, TS_NODE_PROJECT: join(__dirname, '../../tsconfig.json') } },
          (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout) as string[]))
        )
      })
    )
    const results = await Promise.all(runs)
    for (let r = 0; r < rounds; r++) {
      const tokens = results.map((tokensOfOne) => tokensOfOne[r])
      expect(tokens.filter((t) => t.startsWith('error:'))).toEqual([])
      expect(new Set(tokens).size).toBe(1)
    }
  }, 60_000)
})

describe('createReceiver', () => {
  it('runs the development set-up: its token writes, and its credentials survive a restart', async () => {
    const dataDir = join(dir(), 'data')
    const receiver = await createReceiver({ dataDir })
    const credentials = receiver.credentials
    if (!credentials) throw new Error('expected development credentials')
    try {
      expect(receiver.integrations.size).toBe(12)
      const body = audienceBody([{ userId: 'u1', value: true }], { environmentId: credentials.clientSideId })
      expect((await sync(receiver.app, 'segment-audiences', body, { token: credentials.token })).statusCode).toBe(204)
      expect((await sync(receiver.app, 'segment-audiences', body, { token: TOKENS.writer })).statusCode).toBe(403)
      expect((await get(receiver.app, `/sdk/goals/${credentials.clientSideId}`, null)).statusCode).toBe(200)
    } finally {
      await receiver.close()
    }
    expect(existsSync(join(dataDir, 'segments.db'))).toBe(true)

    const again = await createReceiver({ dataDir })
    try {
      expect(again.credentials).toEqual(credentials)
      const response = await get(again.app, '/api/v2/segments/default/production/segment-audiences-aud-1/contexts/u1', credentials.token)
      expect(response.json()).toEqual({ userKey: 'u1', included: true, excluded: false, contextKey: 'u1' })
    } finally {
      await again.close()
    }
  })

  it('follows a configuration file and writes no credentials', async () => {
    const d = dir()
    const configFile = join(d, 'receiver.json')
    writeFileSync(configFile, JSON.stringify(testConfig()))
    const receiver = await createReceiver({ dataDir: join(d, 'data'), configFile })
    try {
      expect(receiver.credentials).toBeUndefined()
      expect(existsSync(join(d, 'data', CREDENTIALS_FILE))).toBe(false)
      expect((await get(receiver.app, '/api/v2/versions', TOKENS.reader)).statusCode).toBe(200)
    } finally {
      await receiver.close()
    }
  })

  it('adds integrations from a directory and stops on an invalid manifest or store', async () => {
    const d = dir()
    await expect(createReceiver({ dataDir: join(d, 'data'), config: testConfig(), store: 'mongodb://x' })).rejects.toThrow(/unknown store/)
    await expect(createReceiver({ dataDir: join(d, 'data'), config: { projects: [] } })).rejects.toThrow(ConfigError)
    await expect(createReceiver({ dataDir: join(d, 'data'), config: testConfig(), integrationsDir: join(d, 'missing') })).rejects.toThrow(/missing/)
  })

  it('refuses an unknown store before the development set-up writes anything', async () => {
    const dataDir = join(dir(), 'data')
    await expect(createReceiver({ dataDir, store: 'sqllite' })).rejects.toThrow('unknown store "sqllite": use "sqlite" or a redis:// URL')
    expect(existsSync(dataDir)).toBe(false)
  })
})
