/**
 * The console over HTTP without a browser (app.inject): sign-in and its cookie, redirects, the
 * CSP, the cross-origin and CSRF checks of every POST, sign-out, hostile strings rendered inert.
 */
import type { LightMyRequestResponse } from 'fastify'
import { consoleSegmentPath } from '../../src/receiver/links'
import { SESSION_COOKIE } from '../../src/console/session'
import {
  ADMIN_TOKEN,
  ENVIRONMENT,
  HOSTILE_SEGMENT,
  POWER_USERS,
  PROJECT,
  READER_TOKEN,
  startConsoleReceiver,
  WRITER_TOKEN,
  ENV_REF,
  type ConsoleReceiver
} from './helpers'

const HOST = 'console.test:8787'
const ORIGIN = `http://${HOST}`
const FORM = 'application/x-www-form-urlencoded'

let env: ConsoleReceiver
beforeAll(async () => {
  env = await startConsoleReceiver()
})
afterAll(async () => {
  await env?.close()
})

const inject = (options: {
  method?: 'GET' | 'POST'
  url: string
  cookie?: string
  origin?: string | null
  form?: Record<string, string>
}) =>
  env.receiver.app.inject({
    method: options.method ?? 'GET',
    url: options.url,
    headers: {
      host: HOST,
      ...(options.cookie ? { cookie: options.cookie } : {}),
      ...(options.origin === null ? {} : { origin: options.origin ?? ORIGIN }),
      ...(options.form ? { 'content-type': FORM } : {})
    },
    payload: options.form ? new URLSearchParams(options.form).toString() : undefined
  })

function sessionCookie(response: LightMyRequestResponse): string {
  const header = ([] as string[]).concat(response.headers['set-cookie'] ?? [])
  const cookie = header.find((c) => c.startsWith(`${SESSION_COOKIE}=`))
  if (!cookie) throw new Error(`no session cookie in ${JSON.stringify(response.headers)}`)
  return cookie
}

async function signIn(token: string): Promise<{ cookie: string; csrf: string }> {
  const response = await inject({
    method: 'POST',
    url: '/console/sign-in',
    form: { token, next: '/console/' }
  })
  expect(response.statusCode).toBe(303)
  const cookie = sessionCookie(response).split(';')[0]
  const page = await inject({ url: '/console/', cookie })
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1]
  if (!csrf) throw new Error('no CSRF token on the page')
  return { cookie, csrf }
}

const segmentPage = consoleSegmentPath(PROJECT, ENVIRONMENT, POWER_USERS)

describe('signing in', () => {
  it('sends a person without a session to sign-in, keeping where they were going', async () => {
    const response = await inject({ url: segmentPage })
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe(`/console/sign-in?next=${encodeURIComponent(segmentPage)}`)
    const form = await inject({ url: response.headers.location as string })
    expect(form.statusCode).toBe(200)
    expect(form.body).toContain(`name="next" value="${segmentPage}"`)
  })

  it('sets a signed, HttpOnly, SameSite=Strict, expiring cookie that does not hold the token', async () => {
    const response = await inject({
      method: 'POST',
      url: '/console/sign-in',
      form: { token: READER_TOKEN, next: segmentPage }
    })
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe(segmentPage)
    const cookie = sessionCookie(response)
    expect(cookie).toMatch(/; HttpOnly/)
    expect(cookie).toMatch(/; SameSite=Strict/)
    expect(cookie).toMatch(/; Path=\/console/)
    expect(cookie).toMatch(/; Max-Age=28800/)
    expect(cookie).not.toMatch(/; Secure/)
    expect(cookie).not.toContain(READER_TOKEN)
    const page = await inject({ url: segmentPage, cookie: cookie.split(';')[0] })
    expect(page.statusCode).toBe(200)
    expect(page.body).not.toContain(READER_TOKEN)
  })

  it('marks the cookie Secure behind https', async () => {
    const response = await env.receiver.app.inject({
      method: 'POST',
      url: '/console/sign-in',
      headers: { host: HOST, origin: `https://${HOST}`, 'x-forwarded-proto': 'https', 'content-type': FORM },
      payload: new URLSearchParams({ token: READER_TOKEN, next: '/console/' }).toString()
    })
    expect(response.statusCode).toBe(303)
    expect(sessionCookie(response)).toMatch(/; Secure/)
  })

  it('refuses a forged or tampered cookie', async () => {
    const { cookie } = await signIn(READER_TOKEN)
    const [name, value] = cookie.split('=')
    const decoded = decodeURIComponent(value)
    const tampered = decoded.replace(/\.(\d+)\./, (_m, n: string) => `.${Number(n) + 1000}.`)
    const response = await inject({ url: segmentPage, cookie: `${name}=${encodeURIComponent(tampered)}` })
    expect(response.statusCode).toBe(303)
  })

  it('refuses an unknown token and a token without viewProject, echoing neither', async () => {
    for (const token of ['api-not-a-token-0000', WRITER_TOKEN]) {
      const response = await inject({
        method: 'POST',
        url: '/console/sign-in',
        form: { token, next: '/console/' }
      })
      expect(response.statusCode).toBe(401)
      expect(response.headers['set-cookie']).toBeUndefined()
      expect(response.body).not.toContain(token)
    }
  })

  it('slows down guessing: at most 30 sign-in attempts a minute from one address', async () => {
    const attempt = () =>
      env.receiver.app.inject({
        method: 'POST',
        url: '/console/sign-in',
        remoteAddress: '203.0.113.9',
        headers: { host: HOST, origin: ORIGIN, 'content-type': FORM },
        payload: new URLSearchParams({ token: 'api-guess-0000', next: '/console/' }).toString()
      })
    // Inside one window of the limiter, whatever the clock says.
    const now = jest.spyOn(Date, 'now').mockReturnValue(Date.UTC(2026, 0, 1, 12, 0, 30))
    const statuses: number[] = []
    for (let i = 0; i < 31; i++) statuses.push((await attempt()).statusCode)
    expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true)
    const limited = await attempt()
    now.mockRestore()
    expect(statuses[30]).toBe(429)
    expect(limited.statusCode).toBe(429)
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
  })

  it('never redirects to another site after signing in', async () => {
    for (const next of ['https://evil.invalid/', '//evil.invalid/console/', '/console/\\evil']) {
      const response = await inject({
        method: 'POST',
        url: '/console/sign-in',
        form: { token: READER_TOKEN, next }
      })
      expect(response.headers.location).toBe('/console/')
    }
  })

  it('signs out: the old cookie no longer opens a page', async () => {
    const { cookie, csrf } = await signIn(READER_TOKEN)
    const out = await inject({ method: 'POST', url: '/console/sign-out', cookie, form: { _csrf: csrf } })
    expect(out.statusCode).toBe(303)
    expect(sessionCookie(out)).toMatch(/Expires=Thu, 01 Jan 1970/)
    const again = await inject({ url: segmentPage, cookie })
    expect(again.statusCode).toBe(303)
  })
})

describe('pages', () => {
  it('serves every page with a CSP that allows no inline script or style', async () => {
    const { cookie } = await signIn(ADMIN_TOKEN)
    const base = `/console/${PROJECT}/${ENVIRONMENT}`
    for (const url of [
      '/console/',
      '/console/integrations',
      `${base}/segments`,
      segmentPage,
      `${segmentPage}/members`,
      `${base}/failures`
    ]) {
      const response = await inject({ url, cookie })
      expect({ url, status: response.statusCode }).toEqual({ url, status: 200 })
      const csp = String(response.headers['content-security-policy'])
      expect(csp).toContain("script-src 'self'")
      expect(csp).toContain("style-src 'self'")
      expect(csp).not.toContain('unsafe-inline')
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8')
    }
  })

  it('answers a 404 page for an environment the token may not see, as for one that does not exist', async () => {
    const { cookie } = await signIn(READER_TOKEN)
    const hidden = await inject({ url: `/console/${PROJECT}/staging/segments`, cookie })
    const missing = await inject({ url: `/console/${PROJECT}/nowhere/segments`, cookie })
    expect(hidden.statusCode).toBe(404)
    expect(missing.statusCode).toBe(404)
  })

  it('renders partner strings as text: no markup, no script link', async () => {
    const { cookie } = await signIn(ADMIN_TOKEN)
    const key = HOSTILE_SEGMENT
    const pages = [
      await inject({ url: consoleSegmentPath(PROJECT, ENVIRONMENT, key), cookie }),
      await inject({ url: `${consoleSegmentPath(PROJECT, ENVIRONMENT, key)}/members`, cookie }),
      await inject({ url: `/console/${PROJECT}/${ENVIRONMENT}/segments`, cookie }),
      await inject({ url: `/console/${PROJECT}/${ENVIRONMENT}/failures`, cookie })
    ]
    for (const page of pages) {
      expect(page.statusCode).toBe(200)
      expect(page.body).not.toMatch(/<script>alert|<img src="?http:\/\/evil|<svg onload|href="javascript:/i)
    }
    expect(pages[0].body).toContain('&lt;img src=&quot;http://evil.invalid/name.png&quot;')
    expect(pages[0].body).toContain('javascript:alert(&#39;link&#39;)</code>')
    expect(pages[1].body).toContain('&lt;script&gt;alert(&#39;member&#39;)&lt;/script&gt;')
    expect(pages[3].body).toContain('&lt;svg onload=')
  })
})

describe('excluded keys', () => {
  it('lists a segment’s excluded keys and says so in a lookup', async () => {
    const { cookie } = await signIn(ADMIN_TOKEN)
    await env.receiver.store.updateTargets(ENV_REF, POWER_USERS, { excluded: { add: ['<b>blocked</b>', 'zz-opted-out'] } })
    try {
      const page = await inject({ url: consoleSegmentPath(PROJECT, ENVIRONMENT, POWER_USERS), cookie })
      expect(page.statusCode).toBe(200)
      const excluded = page.body.slice(page.body.indexOf('id="excluded-heading"'))
      expect(excluded).toContain('<code class="key">&lt;b&gt;blocked&lt;/b&gt;</code>')
      expect(excluded).toContain('<code class="key">zz-opted-out</code>')
      const lookup = await inject({
        url: `${consoleSegmentPath(PROJECT, ENVIRONMENT, POWER_USERS)}?contextKey=zz-opted-out`,
        cookie
      })
      expect(lookup.body).toContain('is not included in this segment and is excluded from it.')
    } finally {
      await env.receiver.store.updateTargets(ENV_REF, POWER_USERS, { excluded: { remove: ['<b>blocked</b>', 'zz-opted-out'] } })
    }
  })
})

describe('state changes', () => {
  it('refuses a delete from another origin, without an origin, or without the CSRF token', async () => {
    const { cookie, csrf } = await signIn(ADMIN_TOKEN)
    const url = `${segmentPage}/delete`
    const form = { _csrf: csrf, confirm: POWER_USERS }
    const attempts = [
      await inject({ method: 'POST', url, cookie, form, origin: 'http://console.test:9999' }),
      await inject({ method: 'POST', url, cookie, form, origin: 'null' }),
      await inject({ method: 'POST', url, cookie, form, origin: null }),
      await inject({ method: 'POST', url, cookie, form: { confirm: POWER_USERS } }),
      await inject({ method: 'POST', url, cookie, form: { _csrf: 'x'.repeat(43), confirm: POWER_USERS } })
    ]
    expect(attempts.map((a) => a.statusCode)).toEqual([403, 403, 403, 403, 403])
    expect(await env.receiver.store.getSegment(ENV_REF, POWER_USERS)).toBeDefined()
  })

  it('refuses a delete by a token without deleteSegment, and one without the confirmation', async () => {
    const reader = await signIn(READER_TOKEN)
    const denied = await inject({
      method: 'POST',
      url: `${segmentPage}/delete`,
      cookie: reader.cookie,
      form: { _csrf: reader.csrf, confirm: POWER_USERS }
    })
    expect(denied.statusCode).toBe(403)
    expect((await inject({ url: segmentPage, cookie: reader.cookie })).body).not.toContain('Delete segment')
    const admin = await signIn(ADMIN_TOKEN)
    const unconfirmed = await inject({
      method: 'POST',
      url: `${segmentPage}/delete`,
      cookie: admin.cookie,
      form: { _csrf: admin.csrf }
    })
    expect(unconfirmed.statusCode).toBe(400)
    expect(await env.receiver.store.getSegment(ENV_REF, POWER_USERS)).toBeDefined()
  })
})
