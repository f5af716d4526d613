/**
 * The console in a real browser: Debian's chromium driven by playwright-core (never a downloaded
 * browser). Signs in, visits every page (axe-core on each, a screenshot of each), pages through
 * members, looks a key up, filters the list, deletes through the form, proves that a form on
 * another origin cannot delete, and that the hostile corpus never runs script nor loads anything
 * from elsewhere. Screenshots go to test-results/console/ (git-ignored).
 */
import { mkdirSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { consoleSegmentPath } from '../../src/receiver/links'
import {
  ADMIN_TOKEN,
  ENV_REF,
  ENVIRONMENT,
  HOSTILE_SEGMENT,
  POWER_USERS,
  POWER_USERS_SIZE,
  PROJECT,
  READER_TOKEN,
  startConsoleReceiver,
  type ConsoleReceiver
} from './helpers'

jest.setTimeout(120_000)

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync'
]
export const SCREENSHOTS = join(__dirname, '..', '..', 'test-results', 'console')
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')

let env: ConsoleReceiver
let base: string
let evil: Server
let evilBase: string
let browser: Browser
let context: BrowserContext
/** Everything the pages did that they must not: dialogs, console errors, foreign requests. */
const incidents: string[] = []
/** The CSRF token the evil page sends: the worst case, an attacker who somehow has it. */
let stolenCsrf = ''

/** `refusalExpected`: the page is meant to be answered with an error status, which Chromium logs. */
function watch(page: Page, refusalExpected = false): Page {
  page.on('dialog', (dialog) => {
    incidents.push(`dialog: ${dialog.message()}`)
    void dialog.dismiss()
  })
  page.on('console', (message) => {
    const refusal = refusalExpected && message.text().startsWith('Failed to load resource')
    if (message.type() === 'error' && !refusal)
      incidents.push(`console error on ${page.url()}: ${message.text()}`)
  })
  page.on('pageerror', (error) => incidents.push(`page error: ${error.message}`))
  page.on('request', (request) => {
    const url = request.url()
    if (!url.startsWith(`${base}/`) && !url.startsWith(`${evilBase}/`) && !url.startsWith('data:'))
      incidents.push(`request to ${url}`)
  })
  return page
}

async function newContext(
  options: { javaScriptEnabled?: boolean; viewport?: { width: number; height: number } } = {}
) {
  return browser.newContext({
    javaScriptEnabled: options.javaScriptEnabled ?? true,
    viewport: options.viewport ?? { width: 1280, height: 900 }
  })
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${base}/console/`)
  await page.getByLabel('Access token').fill(token)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(`${base}/console/`)
}

/** axe-core's serious and critical violations of the page, as short strings. */
async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the debugging protocol, which the page's CSP does not govern.
  await page.evaluate(AXE_SOURCE)
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run(context: Document): Promise<{
            violations: Array<{ id: string; impact?: string; nodes: Array<{ target: unknown }> }>
          }>
        }
      }
    ).axe
    const result = await axe.run(document)
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.map((n) => JSON.stringify(n.target)).slice(0, 3)
    }))
  })
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.targets.join(' ')}`)
}

async function visit(page: Page, path: string, screenshot: string): Promise<void> {
  const response = await page.goto(`${base}${path}`)
  expect({ path, status: response?.status() }).toEqual({ path, status: 200 })
  await page.waitForLoadState('networkidle')
  expect({ path, violations: await axeViolations(page) }).toEqual({ path, violations: [] })
  await page.screenshot({ path: join(SCREENSHOTS, `${screenshot}.png`), fullPage: true })
}

const segmentPath = consoleSegmentPath(PROJECT, ENVIRONMENT, POWER_USERS)

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true })
  env = await startConsoleReceiver()
  await env.receiver.app.listen({ host: '127.0.0.1', port: 0 })
  base = `http://127.0.0.1:${(env.receiver.app.server.address() as AddressInfo).port}`
  // Another origin on the same host (another port): SameSite=Strict lets the cookie through, the console must not.
  evil = createServer((_request, response) => {
    response.setHeader('content-type', 'text/html; charset=utf-8')
    response.end(
      `<!doctype html><title>Prize</title><form method="post" action="${base}${segmentPath}/delete">` +
        `<input type="hidden" name="_csrf" value="${stolenCsrf}"><input type="hidden" name="confirm" value="${POWER_USERS}">` +
        '<button type="submit">Claim your prize</button></form>'
    )
  })
  await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve))
  evilBase = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`
  // Without a user-data dir of its own, playwright gives the browser a fresh temporary profile.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  context = await newContext()
})

afterAll(async () => {
  await browser?.close()
  await new Promise((resolve) => evil?.close(resolve))
  await env?.close()
})

describe('the console in chromium', () => {
  let page: Page

  it('signs in with a token that never shows up in the URL, the page or a script-readable cookie', async () => {
    page = watch(await context.newPage())
    await page.goto(`${base}${segmentPath}`)
    expect(new URL(page.url()).pathname).toBe('/console/sign-in')
    await page.screenshot({ path: join(SCREENSHOTS, 'sign-in.png'), fullPage: true })
    expect(await axeViolations(page)).toEqual([])
    await page.getByLabel('Access token').fill(ADMIN_TOKEN)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${base}${segmentPath}`)
    expect(page.url()).not.toContain(ADMIN_TOKEN)
    expect(await page.content()).not.toContain(ADMIN_TOKEN)
    expect(await page.evaluate(() => document.cookie)).toBe('')
    const [cookie] = await context.cookies(`${base}/console/`)
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' })
    expect(cookie.value).not.toContain(ADMIN_TOKEN)
    stolenCsrf = (await page.locator('input[name="_csrf"]').first().inputValue()) ?? ''
  })

  it('shows every page without an accessibility violation', async () => {
    await visit(page, '/console/', 'environments')
    await expect(page.getByRole('link', { name: 'Sync failures of shop / production' })).toBeTruthy()
    await visit(page, '/console/integrations', 'integrations')
    await visit(page, `/console/${PROJECT}/${ENVIRONMENT}/segments`, 'segments')
    await visit(page, segmentPath, 'segment')
    await visit(page, `${segmentPath}/members`, 'members')
    await visit(page, `/console/${PROJECT}/${ENVIRONMENT}/failures`, 'failures')
    await visit(page, consoleSegmentPath(PROJECT, ENVIRONMENT, HOSTILE_SEGMENT), 'hostile-segment')
  })

  it('draws the chart of the segment’s size and changes per sync', async () => {
    await page.goto(`${base}${segmentPath}`)
    await page.locator('#size-chart canvas').waitFor()
    const legend = await page.locator('#size-chart .u-legend').innerText()
    expect(legend).toMatch(/Size/)
    expect(legend).toMatch(/Added/)
    expect(legend).toMatch(/Removed/)
  })

  it('pages through the members with the cursor links', async () => {
    await page.goto(`${base}${segmentPath}/members`)
    const seen: string[] = []
    for (;;) {
      seen.push(...(await page.locator('ul.members li').allInnerTexts()))
      const next = page.getByRole('link', { name: 'Next page' })
      if ((await next.count()) === 0) break
      await next.click()
      await page.waitForLoadState('load')
    }
    expect(seen).toHaveLength(POWER_USERS_SIZE)
    expect(new Set(seen).size).toBe(POWER_USERS_SIZE)
    expect([...seen].sort()).toEqual(seen)
    await page.getByRole('link', { name: 'First page' }).click()
    expect(await page.locator('ul.members li').first().innerText()).toBe(seen[0])
  })

  it('looks a context key up in place', async () => {
    await page.goto(`${base}${segmentPath}`)
    await page.getByLabel('Context key').fill('user-0100')
    await page.getByRole('button', { name: 'Look up' }).click()
    await expect(
      page.locator('#lookup-result').getByText('is included in this segment').waitFor()
    ).resolves.toBeUndefined()
    await page.getByLabel('Context key').fill('user-0010')
    await page.getByRole('button', { name: 'Look up' }).click()
    await expect(
      page.locator('#lookup-result').getByText('is not included in this segment').waitFor()
    ).resolves.toBeUndefined()
  })

  it('searches, filters and sorts the segment list', async () => {
    await page.goto(`${base}/console/${PROJECT}/${ENVIRONMENT}/segments`)
    await page.getByLabel('Search key or name').fill('trial')
    await page.getByRole('button', { name: 'Apply' }).click()
    await page.waitForURL(/q=trial/)
    expect(await page.locator('table.segments tbody tr').count()).toBe(1)
    await page.getByLabel('Search key or name').fill('')
    await page.getByLabel('Integration').selectOption('amplitude')
    await page.getByRole('button', { name: 'Apply' }).click()
    await page.waitForURL(/integration=amplitude/)
    expect(await page.locator('table.segments tbody tr').count()).toBe(1)
    await page.getByLabel('Integration').selectOption('')
    await page.getByLabel('Sort by').selectOption('-name')
    await page.getByRole('button', { name: 'Apply' }).click()
    await page.waitForURL(/sort=-name/)
    const names = await page.locator('table.segments tbody tr td:first-child').allInnerTexts()
    expect(names[0]).toBe('Trial accounts')
  })

  it('refuses a delete posted from a page of another origin', async () => {
    const attacker = watch(await context.newPage(), true)
    await attacker.goto(`${evilBase}/`)
    const [response] = await Promise.all([
      attacker.waitForResponse((r) => r.url().endsWith('/delete')),
      attacker.getByRole('button', { name: 'Claim your prize' }).click()
    ])
    expect(response.status()).toBe(403)
    expect(await env.receiver.store.getSegment(ENV_REF, POWER_USERS)).toBeDefined()
    await attacker.close()
  })

  it('deletes a segment through the confirmation form', async () => {
    await page.goto(`${base}${segmentPath}`)
    await page.getByLabel(`Yes, delete ${POWER_USERS}`).check()
    await page.getByRole('button', { name: 'Delete segment' }).click()
    await page.waitForURL(/deleted=/)
    await expect(
      page.getByRole('status').filter({ hasText: 'was deleted' }).first().waitFor()
    ).resolves.toBeUndefined()
    await page.screenshot({ path: join(SCREENSHOTS, 'deleted.png'), fullPage: true })
    expect(await env.receiver.store.getSegment(ENV_REF, POWER_USERS)).toBeUndefined()
    const history = await env.receiver.store.listSyncHistory(ENV_REF, { segmentKey: POWER_USERS, limit: 1 })
    expect(history.items[0]).toMatchObject({ operation: 'delete', tokenName: 'admin', status: 'success' })
    expect(history.items[0].segments).toEqual([
      { segmentKey: POWER_USERS, added: 0, removed: POWER_USERS_SIZE, unchanged: 0 }
    ])
  })

  it('fits a phone’s width', async () => {
    const phone = await newContext({ viewport: { width: 390, height: 844 } })
    const small = watch(await phone.newPage())
    await signIn(small, READER_TOKEN)
    for (const [path, name] of [
      [`/console/${PROJECT}/${ENVIRONMENT}/segments`, 'phone-segments'],
      [consoleSegmentPath(PROJECT, ENVIRONMENT, HOSTILE_SEGMENT), 'phone-segment']
    ]) {
      await small.goto(`${base}${path}`)
      await small.waitForLoadState('networkidle')
      const overflow = await small.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth
      )
      expect({ path, overflow }).toEqual({ path, overflow: 0 })
      await small.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
    }
    await phone.close()
  })

  it('reads, pages and looks up with JavaScript off', async () => {
    const noScript = await newContext({ javaScriptEnabled: false })
    const plain = watch(await noScript.newPage())
    await signIn(plain, READER_TOKEN)
    const trial = consoleSegmentPath(PROJECT, ENVIRONMENT, 'segment-audiences-aud_trial')
    await plain.goto(`${base}${trial}`)
    expect(await plain.getByRole('heading', { level: 1 }).innerText()).toBe('Trial accounts')
    await plain.getByLabel('Context key').fill('user-0505')
    await plain.getByRole('button', { name: 'Look up' }).click()
    await plain.waitForURL(/contextKey=user-0505/)
    expect(await plain.locator('#lookup-result').innerText()).toContain('is included in this segment')
    await plain.goto(`${base}${trial}/members`)
    expect(await plain.locator('ul.members li').count()).toBe(12)
    await plain.screenshot({ path: join(SCREENSHOTS, 'no-javascript-members.png'), fullPage: true })
    await noScript.close()
  })

  it('signs out', async () => {
    await page.goto(`${base}/console/`)
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL(/\/console\/sign-in/)
    await page.goto(`${base}/console/integrations`)
    expect(new URL(page.url()).pathname).toBe('/console/sign-in')
  })

  it('never ran a partner’s script, opened a dialog, logged an error or fetched from elsewhere', () => {
    expect(incidents).toEqual([])
  })
})
