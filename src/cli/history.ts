/**
 * `synced-segments history [--segment KEY] [--errors]`: a running receiver's sync history (SPEC §F)
 * as a table, newest first, through `GET /api/v2/sync-history`.
 */
import type { Command } from 'commander'
import type { SyncHistoryPage, SyncRecord } from '../store/types'
import { parsePositiveInteger } from './replay'
import {
  getJson,
  resolveTarget,
  type ReceiverTarget,
  type TargetOptions,
  withTargetOptions
} from './segments'

/** The endpoint's page size cap. */
const HISTORY_PAGE = 100

export interface HistoryFilter {
  segmentKey?: string
  errorsOnly?: boolean
}

/** Up to `limit` records, newest first, following the `next` cursor. */
export async function fetchHistory(
  target: ReceiverTarget,
  filter: HistoryFilter,
  limit: number
): Promise<SyncRecord[]> {
  const records: SyncRecord[] = []
  let after: string | null = null
  do {
    const path = [target.project, target.environment].map(encodeURIComponent).join('/')
    const url = new URL(`/api/v2/sync-history/${path}`, target.baseUrl)
    url.searchParams.set('limit', String(Math.min(HISTORY_PAGE, limit - records.length)))
    if (filter.segmentKey !== undefined) url.searchParams.set('segmentKey', filter.segmentKey)
    if (filter.errorsOnly) url.searchParams.set('status', 'error')
    if (after !== null) url.searchParams.set('after', after)
    const page: SyncHistoryPage = await getJson(target, url)
    records.push(...page.items)
    after = page.next
  } while (after !== null && records.length < limit)
  return records
}

/**
 * A plain-text table, one row per request. With a segment, the counts are that segment's; without,
 * the request's totals over every segment it touched.
 */
export function formatHistoryTable(records: SyncRecord[], segmentKey?: string): string[] {
  const header = [
    'TIME',
    'STATUS',
    'OPERATION',
    'INTEGRATION',
    'TOKEN',
    'SEGMENTS',
    'ADDED',
    'REMOVED',
    'UNCHANGED',
    'MS',
    'ERROR'
  ]
  const numeric = new Set([6, 7, 8, 9])
  const cells = records.map((record) => {
    const segments =
      segmentKey === undefined ? record.segments : record.segments.filter((s) => s.segmentKey === segmentKey)
    const total = (field: 'added' | 'removed' | 'unchanged') =>
      String(segments.reduce((sum, s) => sum + s[field], 0))
    return [
      new Date(record.time).toISOString(),
      String(record.statusCode),
      record.operation,
      record.integration || '—',
      record.tokenName,
      segments.map((s) => s.segmentKey).join(', ') || '—',
      total('added'),
      total('removed'),
      total('unchanged'),
      String(Math.round(record.durationMs)),
      record.error ? `${record.error.code}: ${record.error.message}` : ''
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i].length)))
  const line = (row: string[]) =>
    row
      .map((cell, i) =>
        numeric.has(i) ? cell.padStart(widths[i]) : i === row.length - 1 ? cell : cell.padEnd(widths[i])
      )
      .join('  ')
      .trimEnd()
  return [line(header), ...cells.map(line)]
}

export function register(program: Command): void {
  withTargetOptions(program.command('history').description("a running receiver's sync history, newest first"))
    .option('--segment <key>', 'only requests that touched this segment')
    .option('--errors', 'only rejected requests')
    .option('--limit <n>', 'at most this many requests', parsePositiveInteger, 20)
    .action(async (options: TargetOptions & { segment?: string; errors?: boolean; limit: number }) => {
      const records = await fetchHistory(
        resolveTarget(options),
        { segmentKey: options.segment, errorsOnly: options.errors },
        options.limit
      )
      process.stdout.write(
        records.length
          ? `${formatHistoryTable(records, options.segment).join('\n')}\n`
          : 'no sync history yet\n'
      )
    })
}
