/**
 * LaunchDarkly's list parameters for segments, as pure functions: `sort` (`name`, `creationDate`,
 * `lastModified`, comma-separated, `-` for descending), `filter` (comma-separated clauses that must
 * all hold, in both of LaunchDarkly's spellings: `query:<text>` / `external:<integrationKey>`, and
 * `<field> equals|anyOf|exists <value>`), and the `_links` of a page.
 */
import { BadRequestError } from '../errors'
import type { SegmentFilter, SegmentSort, SegmentSortField } from '../store/types'

const SORT_FIELDS: readonly SegmentSortField[] = ['name', 'creationDate', 'lastModified']

export function parseSort(sort: string | undefined): SegmentSort[] | undefined {
  if (sort === undefined || sort.trim() === '') return undefined
  return sort.split(',').map((part) => {
    const term = part.trim()
    const descending = term.startsWith('-')
    const field = (descending ? term.slice(1) : term) as SegmentSortField
    if (!SORT_FIELDS.includes(field)) {
      throw new BadRequestError(
        `sort: unknown field ${JSON.stringify(field)}; expected ${SORT_FIELDS.join(', ')} (prefix "-" for descending)`
      )
    }
    return { field, descending }
  })
}

/** A parsed filter; `matchesNothing` when a clause no segment here can meet (tags, standard segments). */
export interface ParsedFilter {
  filter: SegmentFilter | undefined
  matchesNothing: boolean
}

/** Splits at commas outside quotes and brackets. */
function clauses(filter: string): string[] {
  const parts: string[] = []
  let depth = 0
  let quoted = false
  let start = 0
  for (let i = 0; i < filter.length; i++) {
    const c = filter[i]
    if (quoted) {
      if (c === '\\') i++
      else if (c === '"') quoted = false
    } else if (c === '"') quoted = true
    else if (c === '[') depth++
    else if (c === ']') depth--
    else if (c === ',' && depth === 0) {
      parts.push(filter.slice(start, i))
      start = i + 1
    } else if ((c === '|' || c === '(' || c === ')') && depth === 0) {
      throw new BadRequestError('filter: "|" and parentheses are not supported; combine clauses with ","')
    }
  }
  parts.push(filter.slice(start))
  return parts.map((part) => part.trim()).filter((part) => part !== '')
}

/** A clause's value: a JSON string, a JSON array of strings, or a bare word. */
function values(raw: string, clause: string): string[] {
  const text = raw.trim()
  if (text.startsWith('"') || text.startsWith('[')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw new BadRequestError(`filter: cannot read the value of ${JSON.stringify(clause)}`)
    }
    const list = Array.isArray(parsed) ? parsed : [parsed]
    if (!list.every((item) => typeof item === 'string'))
      throw new BadRequestError(`filter: ${JSON.stringify(clause)} needs string values`)
    return list as string[]
  }
  return [text]
}

const CLAUSE = /^([A-Za-z]+)\s+(equals|anyOf|exists)(?:\s+(.+))?$/s
const COLON_CLAUSE = /^([A-Za-z]+):(.*)$/s

export function parseFilter(filter: string | undefined): ParsedFilter {
  const result: SegmentFilter = {}
  let matchesNothing = false
  let any = false
  for (const clause of clauses(filter ?? '')) {
    any = true
    const spelled = CLAUSE.exec(clause)
    const colon = spelled ? null : COLON_CLAUSE.exec(clause)
    if (!spelled && !colon)
      throw new BadRequestError(
        `filter: cannot read ${JSON.stringify(clause)}; expected field:value or field equals|anyOf|exists value`
      )
    const field = (spelled ?? colon)![1]
    const operator = spelled ? spelled[2] : 'equals'
    const value = spelled ? spelled[3] : colon![2]
    if (operator !== 'exists' && (value === undefined || value.trim() === ''))
      throw new BadRequestError(`filter: ${JSON.stringify(clause)} needs a value`)
    const list = operator === 'exists' ? [] : values(value as string, clause)
    switch (field) {
      case 'query':
        result.query = [...(result.query ?? []), ...list]
        break
      case 'external':
        if (operator === 'exists') result.external ??= true
        else
          result.external = Array.isArray(result.external)
            ? result.external.filter((key) => list.includes(key))
            : list
        break
      case 'includedKeys':
        result.includedKeys = result.includedKeys
          ? result.includedKeys.filter((key) => list.includes(key))
          : list
        break
      case 'excludedKeys':
        result.excludedKeys = [...(result.excludedKeys ?? []), ...list]
        break
      // Every segment here is a big segment without tags.
      case 'unbounded':
        if (list.some((item) => item !== 'true' && item !== 'false'))
          throw new BadRequestError('filter: unbounded takes true or false')
        if (!list.includes('true')) matchesNothing = true
        break
      case 'tags':
        matchesNothing = true
        break
      default:
        throw new BadRequestError(
          `filter: unknown field ${JSON.stringify(field)}; expected query, external, includedKeys, excludedKeys, unbounded or tags`
        )
    }
  }
  return { filter: any ? result : undefined, matchesNothing }
}

export interface Link {
  href: string
  type: string
}

/**
 * `self`, `first`, `last`, and `prev` / `next` when there is such a page, each the same listing
 * with another offset, as LaunchDarkly links its pages.
 */
export function pageLinks(
  path: string,
  query: Record<string, string | undefined>,
  page: { limit: number; offset: number; totalCount: number }
): Record<string, Link> {
  const { limit, offset, totalCount } = page
  const link = (at: number): Link => {
    const params = new URLSearchParams()
    for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, value)
    params.set('limit', String(limit))
    params.set('offset', String(at))
    return { href: `${path}?${params.toString()}`, type: 'application/json' }
  }
  const lastOffset = totalCount === 0 ? 0 : Math.floor((totalCount - 1) / limit) * limit
  const links: Record<string, Link> = { self: link(offset), first: link(0), last: link(lastOffset) }
  if (offset > 0) links.prev = link(Math.max(0, Math.min(offset - limit, lastOffset)))
  if (offset + limit < totalCount) links.next = link(offset + limit)
  return links
}
