/**
 * What the console leaves outside its pages: nothing of a token in the receiver's log, whatever
 * happens at sign-in; and partners' icons served so that a hostile SVG cannot run in its origin.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { BUNDLED_INTEGRATIONS_DIR } from '../../src/receiver/integrations'
import { ADMIN_TOKEN, startConsoleReceiver, WRITER_TOKEN, type ConsoleReceiver } from './helpers'

const HOST = 'console.test'
const FORM = { host: HOST, origin: `http://${HOST}`, 'content-type': 'application/x-www-form-urlencoded' }
const HOSTILE_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'

let env: ConsoleReceiver
let log = ''
let integrationsDir: string

beforeAll(async () => {
  integrationsDir = mkdtempSync(join(tmpdir(), 'synced-segments-console-icons-'))
  const { capabilities } = JSON.parse(
    readFileSync(join(BUNDLED_INTEGRATIONS_DIR, 'segment-audiences', 'manifest.json'), 'utf8')
  )
  mkdirSync(join(integrationsDir, 'partner', 'assets'), { recursive: true })
  writeFileSync(
    join(integrationsDir, 'partner', 'manifest.json'),
    JSON.stringify({ name: 'Partner', icons: { square: 'assets/square.svg' }, capabilities })
  )
  writeFileSync(join(integrationsDir, 'partner', 'assets', 'square.svg'), HOSTILE_SVG)
  const stream = new Writable({
    write(chunk, _encoding, done) {
      log += String(chunk)
      done()
    }
  })
  env = await startConsoleReceiver({ logger: { level: 'trace', stream }, integrationsDir })
})

afterAll(async () => {
  await env?.close()
  rmSync(integrationsDir, { recursive: true, force: true })
})

it('writes no token to the log, for a good, a refused or a malformed sign-in', async () => {
  const app = env.receiver.app
  const attempts = [
    { token: ADMIN_TOKEN, next: '/console/' },
    { token: WRITER_TOKEN, next: '/console/' },
    { token: `${ADMIN_TOKEN}x`, next: '/console/' }
  ]
  for (const form of attempts) {
    await app.inject({
      method: 'POST',
      url: '/console/sign-in',
      headers: FORM,
      payload: new URLSearchParams(form).toString()
    })
  }
  await app.inject({
    method: 'POST',
    url: '/console/sign-in',
    headers: FORM,
    payload: `token=${ADMIN_TOKEN}&${'x'.repeat(20_000)}`
  })
  await app.inject({
    method: 'POST',
    url: '/console/sign-in',
    headers: { ...FORM, origin: 'http://elsewhere' },
    payload: `token=${ADMIN_TOKEN}`
  })
  expect(log).not.toContain(ADMIN_TOKEN)
  expect(log).not.toContain(WRITER_TOKEN)
})

it('serves a partner’s icon sandboxed, and lists it beside the integration', async () => {
  const app = env.receiver.app
  const icon = await app.inject({ url: '/console/integrations/partner/icon' })
  expect(icon.statusCode).toBe(200)
  expect(icon.headers['content-type']).toMatch(/^image\/svg\+xml/)
  expect(String(icon.headers['content-security-policy'])).toMatch(/sandbox/)
  expect(String(icon.headers['content-security-policy'])).toMatch(/default-src 'none'/)
  expect(icon.headers['x-content-type-options']).toBe('nosniff')
  // LaunchDarkly's own manifests ship their icons too (segment-audiences' under assets/images/).
  const bundled = await app.inject({ url: '/console/integrations/segment-audiences/icon' })
  expect(bundled.statusCode).toBe(200)
  expect(bundled.headers['content-type']).toMatch(/^image\/svg\+xml/)
  expect((await app.inject({ url: '/console/integrations/no-such-integration/icon' })).statusCode).toBe(404)
  expect((await app.inject({ url: '/console/integrations/..%2F..%2Fpackage.json/icon' })).statusCode).toBe(
    404
  )
  expect((await app.inject({ url: '/console/assets/..%2F..%2Fpackage.json' })).statusCode).toBe(404)
})
