/** The console's pure parts, without a browser: view models, session cookies, origin checks, icons. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describeIntegrations } from '../../src/console/integrations'
import {
  csrfToken,
  decodeSession,
  encodeSession,
  newSession,
  safeNext,
  sameOrigin,
  sessionKey,
  tokenFingerprint,
  validCsrfToken
} from '../../src/console/session'
import {
  chartData,
  formatTime,
  pageLinks,
  parseSegmentQuery,
  safeExternalLink,
  selectSegments,
  sizeSeries
} from '../../src/console/view-models'
import { BUNDLED_INTEGRATIONS_DIR, loadIntegrations } from '../../src/receiver/integrations'
import type { SegmentRecord } from '../../src/store/types'

const segment = (key: string, name: string, external: string, creationDate: number): SegmentRecord => ({
  key,
  name,
  unbounded: true,
  unboundedContextKind: 'user',
  generation: 1,
  creationDate,
  lastModifiedDate: creationDate + 10,
  _external: external,
  includedCount: 0,
  excludedCount: 0,
  version: 1
})

describe('view models', () => {
  it('links only http(s) cohort URLs', () => {
    expect(safeExternalLink('https://app.example.com/cohort/1?x=<b>')).toBe(
      'https://app.example.com/cohort/1?x=%3Cb%3E'
    )
    expect(safeExternalLink('http://example.com')).toBe('http://example.com/')
    for (const link of [
      'javascript:alert(1)',
      ' JavaScript:alert(1)',
      'data:text/html,<script>',
      'vbscript:x',
      '//evil.example',
      'not a url',
      undefined
    ]) {
      expect(safeExternalLink(link)).toBeUndefined()
    }
  })

  it('walks the size back through the syncs, oldest first', () => {
    const points = sizeSeries(100, [
      { time: 3000, added: 10, removed: 0 },
      { time: 2000, added: 0, removed: 20 },
      { time: 1000, added: 110, removed: 0 }
    ])
    expect(points).toEqual([
      { time: 1, size: 110, added: 110, removed: 0 },
      { time: 2, size: 90, added: 0, removed: 20 },
      { time: 3, size: 100, added: 10, removed: 0 }
    ])
    expect(chartData(points)).toEqual([
      [1, 2, 3],
      [110, 90, 100],
      [110, 0, 10],
      [-0, -20, -0]
    ])
    expect(sizeSeries(5, [])).toEqual([])
  })

  it('reads a segments query, falling back on anything unknown', () => {
    expect(parseSegmentQuery({})).toEqual({ q: '', integration: '', sort: 'name', page: 1 })
    expect(
      parseSegmentQuery({ q: ' vip ', integration: 'amplitude', sort: '-creationDate', page: '3' })
    ).toEqual({
      q: 'vip',
      integration: 'amplitude',
      sort: '-creationDate',
      page: 3
    })
    expect(parseSegmentQuery({ q: ['a', 'b'], sort: 'constructor', page: '0' })).toEqual({
      q: '',
      integration: '',
      sort: 'name',
      page: 1
    })
    expect(parseSegmentQuery({ page: '1e9' }).page).toBe(1)
  })

  it('filters, sorts and pages segments', () => {
    const all = [
      segment('b-2', 'Beta', 'amplitude', 3),
      segment('a-1', 'alpha', 'segment-audiences', 2),
      segment('c-3', 'Gamma VIP', 'amplitude', 1)
    ]
    const select = (query: Record<string, string>, pageSize?: number) =>
      selectSegments(all, parseSegmentQuery(query), pageSize)
    expect(select({}).items.map((s) => s.key)).toEqual(['a-1', 'b-2', 'c-3'])
    expect(select({ sort: '-creationDate' }).items.map((s) => s.key)).toEqual(['b-2', 'a-1', 'c-3'])
    expect(select({ q: 'vip' }).items.map((s) => s.key)).toEqual(['c-3'])
    expect(select({ q: 'A-1' }).items.map((s) => s.key)).toEqual(['a-1'])
    expect(select({ integration: 'amplitude', sort: 'lastModified' }).items.map((s) => s.key)).toEqual([
      'c-3',
      'b-2'
    ])
    expect(select({ page: '2' }, 2)).toMatchObject({ totalCount: 3, page: 2, pageCount: 2 })
    expect(select({ page: '9' }, 2).page).toBe(2)
    expect(pageLinks('/s', { q: 'a b', sort: undefined }, 2, 3)).toEqual({
      prev: '/s?q=a+b&page=1',
      next: '/s?q=a+b&page=3'
    })
    expect(pageLinks('/s', {}, 1, 1)).toEqual({ prev: undefined, next: undefined })
  })

  it('formats times in UTC', () => {
    expect(formatTime(Date.UTC(2026, 0, 2, 3, 4, 5))).toBe('2026-01-02 03:04:05 UTC')
    expect(formatTime(undefined)).toBe('—')
  })
})

describe('sessions', () => {
  const key = sessionKey([{ token: 'api-one-0001' }, { token: 'api-two-0002' }])

  it('derives one key from the configured tokens, whatever their order, and another when they change', () => {
    expect(sessionKey([{ token: 'api-two-0002' }, { token: 'api-one-0001' }])).toBe(key)
    expect(sessionKey([{ token: 'api-one-0001' }])).not.toBe(key)
    expect(sessionKey([])).not.toBe(sessionKey([]))
  })

  it('keeps no token in the cookie and ends at its expiry', () => {
    const session = newSession(tokenFingerprint(key, 'api-one-0001'), 1_000)
    const value = encodeSession(session)
    expect(value).not.toContain('api-one-0001')
    expect(decodeSession(value, 2_000)).toEqual(session)
    expect(decodeSession(value, session.expiresAt)).toBeUndefined()
    for (const bad of ['', 'a.b', 'a.b.c.d', 'a.b.12x', 'a b.c.99999999999', '..5'])
      expect(decodeSession(bad, 0)).toBeUndefined()
  })

  it('accepts only the session’s own CSRF token', () => {
    const one = newSession('f', 0)
    const two = newSession('f', 0)
    expect(validCsrfToken(key, one, csrfToken(key, one))).toBe(true)
    expect(validCsrfToken(key, one, csrfToken(key, two))).toBe(false)
    expect(validCsrfToken(key, one, undefined)).toBe(false)
    expect(validCsrfToken(key, one, ['x'])).toBe(false)
  })

  it('takes a POST as same-origin only when Origin (or Referer) names the host it was sent to', () => {
    expect(sameOrigin({ origin: 'http://127.0.0.1:8787', host: '127.0.0.1:8787' })).toBe(true)
    expect(sameOrigin({ origin: 'http://localhost', host: 'localhost:80' })).toBe(true)
    expect(sameOrigin({ referer: 'http://127.0.0.1:8787/console/x', host: '127.0.0.1:8787' })).toBe(true)
    expect(sameOrigin({ origin: 'http://127.0.0.1:9999', host: '127.0.0.1:8787' })).toBe(false)
    expect(sameOrigin({ origin: 'null', host: '127.0.0.1:8787' })).toBe(false)
    expect(sameOrigin({ host: '127.0.0.1:8787' })).toBe(false)
    expect(sameOrigin({ origin: 'file://x', host: 'x' })).toBe(false)
    expect(
      sameOrigin(
        { origin: 'https://segments.example.com', host: '10.0.0.5:8787' },
        'https://segments.example.com'
      )
    ).toBe(true)
    expect(
      sameOrigin({ origin: 'https://evil.example', host: '10.0.0.5:8787' }, 'https://segments.example.com')
    ).toBe(false)
  })

  it('goes back only to a console path after signing in', () => {
    expect(safeNext('/console/shop/production/segments', '/console')).toBe(
      '/console/shop/production/segments'
    )
    for (const next of [
      'https://evil.example/console/',
      '//evil.example',
      '/console\\..',
      '/other',
      '/console/a b',
      undefined
    ]) {
      expect(safeNext(next, '/console')).toBe('/console/')
    }
  })
})

describe('integration icons', () => {
  it('finds the square icon inside the integration’s folder and nowhere else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'synced-segments-icons-'))
    try {
      // A bundled manifest's capability, with the icon under test.
      const { capabilities } = JSON.parse(
        readFileSync(join(BUNDLED_INTEGRATIONS_DIR, 'segment-audiences', 'manifest.json'), 'utf8')
      )
      const manifest = (icon: string) => ({ name: 'Partner', icons: { square: icon }, capabilities })
      for (const [key, icon] of [
        ['inside', 'assets/square.svg'],
        ['escaping', '../inside/assets/square.svg'],
        ['missing', 'assets/none.svg'],
        ['script', 'assets/square.js']
      ]) {
        mkdirSync(join(dir, key, 'assets'), { recursive: true })
        writeFileSync(join(dir, key, 'manifest.json'), JSON.stringify(manifest(icon)))
      }
      writeFileSync(join(dir, 'inside', 'assets', 'square.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>')
      writeFileSync(join(dir, 'script', 'assets', 'square.js'), 'alert(1)')
      const described = describeIntegrations(loadIntegrations([dir]))
      expect(described.get('inside')?.iconFile).toBe(join(dir, 'inside', 'assets', 'square.svg'))
      expect(described.get('inside')?.mode).toMatch(/^boolean/)
      for (const key of ['escaping', 'missing', 'script'])
        expect(described.get(key)?.iconFile).toBeUndefined()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
