/**
 * Plain data for the console's templates, built by small pure functions (tested without a browser).
 * Templates only print what these return; every string is escaped by the template engine, and the
 * one value that becomes a link target (a cohort's `_externalLink`) is checked here.
 */
import type { SegmentRecord } from '../store/types'

export const SEGMENTS_PAGE_SIZE = 25
export const MEMBERS_PAGE_SIZE = 100
/** Members shown on a segment's own page; the members page has the rest. */
export const SEGMENT_PAGE_MEMBERS = 20

/** `2026-12-01 21:20:05 UTC`, or an em dash for no time. */
export function formatTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—'
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`
}

export function formatCount(n: number | undefined): string {
  return n === undefined ? '—' : n.toLocaleString('en-US')
}

/** An http(s) URL to link to, or undefined: `javascript:`, `data:` and anything unparsable stay plain text. */
export function safeExternalLink(link: string | undefined): string | undefined {
  if (link === undefined) return undefined
  let url: URL
  try {
    url = new URL(link)
  } catch {
    return undefined
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined
}

/** The query string of `params` (empty values left out), starting with `?`, or '' when there are none. */
export function queryString(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams()
  for (const [name, value] of Object.entries(params))
    if (value !== undefined && value !== '') search.set(name, String(value))
  const text = search.toString()
  return text === '' ? '' : `?${text}`
}

export const SEGMENT_SORTS = [
  'name',
  '-name',
  'key',
  '-key',
  'creationDate',
  '-creationDate',
  'lastModified',
  '-lastModified'
] as const
export type SegmentSort = (typeof SEGMENT_SORTS)[number]

export interface SegmentQuery {
  /** Text searched in key and name, case-insensitively. */
  q: string
  /** Integration key, or '' for all. */
  integration: string
  sort: SegmentSort
  /** 1-based. */
  page: number
}

/** The query of a segments page from its query string; anything unknown falls back to the default. */
export function parseSegmentQuery(query: Record<string, unknown>): SegmentQuery {
  const text = (value: unknown) => (typeof value === 'string' ? value.slice(0, 200) : '')
  const sort = SEGMENT_SORTS.find((s) => s === query.sort) ?? 'name'
  const page = /^[1-9]\d{0,6}$/.test(text(query.page)) ? Number(query.page) : 1
  return { q: text(query.q).trim(), integration: text(query.integration), sort, page }
}

function sortValue(segment: SegmentRecord, field: string): string | number {
  switch (field) {
    case 'creationDate':
      return segment.creationDate
    case 'lastModified':
      return segment.lastModifiedDate
    case 'key':
      return segment.key
    default:
      return segment.name.toLowerCase()
  }
}

/** Filters, sorts and cuts one page out of an environment's segments. */
export function selectSegments(
  segments: readonly SegmentRecord[],
  query: SegmentQuery,
  pageSize = SEGMENTS_PAGE_SIZE
): { items: SegmentRecord[]; totalCount: number; page: number; pageCount: number } {
  const needle = query.q.toLowerCase()
  const matching = segments.filter(
    (s) =>
      (query.integration === '' || s._external === query.integration) &&
      (needle === '' || s.key.toLowerCase().includes(needle) || s.name.toLowerCase().includes(needle))
  )
  const descending = query.sort.startsWith('-')
  const field = descending ? query.sort.slice(1) : query.sort
  const sorted = [...matching].sort((a, b) => {
    const x = sortValue(a, field)
    const y = sortValue(b, field)
    const order = x < y ? -1 : x > y ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0
    return descending ? -order : order
  })
  const pageCount = Math.max(1, Math.ceil(sorted.length / pageSize))
  const page = Math.min(query.page, pageCount)
  return {
    items: sorted.slice((page - 1) * pageSize, page * pageSize),
    totalCount: matching.length,
    page,
    pageCount
  }
}

/** Previous / next links of a numbered list, keeping the other query parameters. */
export function pageLinks(
  base: string,
  params: Record<string, string | number | undefined>,
  page: number,
  pageCount: number
): { prev?: string; next?: string } {
  return {
    prev: page > 1 ? `${base}${queryString({ ...params, page: page - 1 })}` : undefined,
    next: page < pageCount ? `${base}${queryString({ ...params, page: page + 1 })}` : undefined
  }
}

/** One sync of a segment, as the chart and the history table show it. */
export interface SegmentSync {
  time: number
  added: number
  removed: number
}

export interface SizePoint {
  /** Unix seconds (the chart's x axis). */
  time: number
  /** Included members after the sync. */
  size: number
  added: number
  removed: number
}

/**
 * The segment's size after each sync, oldest first, walked back from its size now through the
 * syncs (newest first) that led to it: the size before a sync is the size after it, less what it
 * added, plus what it removed.
 */
export function sizeSeries(currentSize: number, newestFirst: readonly SegmentSync[]): SizePoint[] {
  const points: SizePoint[] = []
  let size = currentSize
  for (const sync of newestFirst) {
    points.push({ time: Math.floor(sync.time / 1000), size, added: sync.added, removed: sync.removed })
    size = Math.max(0, size - sync.added + sync.removed)
  }
  return points.reverse()
}

/** The chart's data as uPlot takes it: [times, sizes, added, removed]. */
export function chartData(points: readonly SizePoint[]): number[][] {
  return [
    points.map((p) => p.time),
    points.map((p) => p.size),
    points.map((p) => p.added),
    points.map((p) => -p.removed)
  ]
}

/** How an integration's requests say who is added and removed, in words. */
export function modeLabel(kind: 'boolean' | 'inclusion' | 'addRemove'): string {
  switch (kind) {
    case 'boolean':
      return 'boolean: one member array, true or false per member'
    case 'inclusion':
      return 'inclusion: one member array, a request value matched against a pattern'
    case 'addRemove':
      return 'add / remove arrays'
  }
}

/** What each page's template receives besides its own data. */
export interface LayoutModel {
  title: string
  /** Who is signed in (the token's name), absent on the sign-in page. */
  signedInAs?: string
  csrf?: string
  /** Breadcrumbs: label and link (the last one without a link, the current page). */
  crumbs: Array<{ label: string; href?: string }>
  prefix: string
}
