/**
 * §B8 over HTTP: a directory shaped like LaunchDarkly's integration framework (manifests without
 * syncedSegment beside those with it), and LaunchDarkly's parser's reading of empty values.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { serve } from '../../src/cli/serve'
import { audienceBody, get, makeApp, PROD_ID, sync, tempDir, type TestApp } from './app-helpers'

const booleanParser = {
  environmentIdPath: '/environmentId',
  contextKindPath: '/contextKind',
  cohortIdPath: '/batch/0/cohortId',
  cohortNamePath: '/batch/0/cohortName',
  cohortUrlPath: '',
  memberArrayPath: '/batch',
  memberArrayParser: {
    memberIdPath: '/userId',
    booleanMembershipPath: '/value',
    cohortIdPath: '/cohortId',
    cohortNamePath: '/cohortName'
  }
}

let dir: string
let t: TestApp
beforeAll(() => {
  dir = tempDir('ld-directory-')
  const write = (key: string, manifest: object): void => {
    mkdirSync(join(dir, key))
    writeFileSync(join(dir, key, 'manifest.json'), JSON.stringify(manifest))
  }
  write('datadog', {
    name: 'Datadog',
    capabilities: {
      auditLogEventsHook: { endpoint: { url: 'https://x.example', method: 'POST', headers: [] } }
    }
  })
  write('coderefs', { name: 'Code references', otherCapabilities: ['codeRefs'] })
  write('empty-strings', {
    name: 'Empty strings',
    capabilities: { syncedSegment: { requestParser: booleanParser, jsonResponseBody: '' } }
  })
  t = makeApp({ integrationsDir: dir })
})
afterAll(async () => {
  await t.close()
  rmSync(dir, { recursive: true, force: true })
})

it.each(['datadog', 'CodeRefs'])(
  "a sync to %s, loaded without syncedSegment, is a 400 as in LaunchDarkly's validation server",
  async (key) => {
    const res = await sync(t.app, key, audienceBody([{ userId: 'u', value: true }]))
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({
      code: 'unsupported_integration',
      id: expect.any(String),
      message: `integration does not support synced segments: ${key.toLowerCase()} has no capabilities.syncedSegment`
    })
  }
)

it('an integration that is in no directory is still a 404', async () => {
  const res = await sync(t.app, 'nobody', audienceBody([{ userId: 'u', value: true }]))
  expect(res.statusCode).toBe(404)
  expect(res.json()).toMatchObject({ code: 'unknown_integration' })
})

it('the token is checked before the capability, as for every sync', async () => {
  const res = await sync(t.app, 'datadog', {}, { token: 'wrong' })
  expect(res.statusCode).toBe(403)
})

it.each([
  ['null', null],
  ['""', '']
])(
  'contextKind %s means user; "" pointers and jsonResponseBody are not set (204, no URL)',
  async (_label, contextKind) => {
    const body = {
      environmentId: PROD_ID,
      contextKind,
      batch: [{ userId: `ctx-${String(contextKind)}`, cohortId: 'c1', cohortName: 'C one', value: true }]
    }
    const res = await sync(t.app, 'empty-strings', body)
    expect(res.statusCode).toBe(204)
    expect(res.body).toBe('')
    const segment = await get(t.app, '/api/v2/segments/acme/production/empty-strings-c1')
    expect(segment.statusCode).toBe(200)
    expect(segment.json()).toMatchObject({ unboundedContextKind: 'user' })
    expect(segment.json()).not.toHaveProperty('_externalLink')
  }
)

it('serve says how many integrations it skipped', async () => {
  const data = tempDir('serve-skipped-')
  const out = new PassThrough()
  let text = ''
  out.on('data', (chunk: Buffer) => (text += chunk.toString()))
  const receiver = await serve({ port: 0, host: '127.0.0.1', data, store: 'sqlite', integrations: dir }, out)
  try {
    expect(text).toContain('integrations  13 loaded, 2 skipped (no syncedSegment)')
    // On SQLite there is no heartbeat to announce.
    expect(text).not.toContain('heartbeat')
  } finally {
    await receiver.close()
    rmSync(data, { recursive: true, force: true })
  }
})
