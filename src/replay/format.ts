/** Pure text rendering of a replay's summary and requests, shared by `replay` and `demo`. */
import type { ReplayRequest, ReplaySummary } from './summary'

const MAX_REASONS = 8

/** `1 event`, `1,200 events`. */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? one : many}`
}

/** `204 ×3, 429 ×1`, by status. */
export function statusList(statuses: Record<string, number>): string {
  return Object.entries(statuses)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([status, count]) => `${status} ×${count}`)
    .join(', ')
}

/** The summary as indented lines, most useful first. */
export function formatSummary(summary: ReplaySummary): string[] {
  const rejectedCount = summary.rejected.reduce((sum, r) => sum + r.count, 0)
  const lines = [
    `${plural(summary.eventsRead, 'event')} read in ${plural(summary.batches, 'batch', 'batches')}` +
      (summary.malformedLines ? `, ${plural(summary.malformedLines, 'malformed line')} skipped` : ''),
    summary.dryRun
      ? `${plural(summary.delivered, 'event')} would be delivered, ${plural(rejectedCount, 'event')} not`
      : `${plural(summary.delivered, 'event')} delivered, ${plural(rejectedCount, 'event')} not delivered`
  ]
  lines.push(
    summary.dryRun
      ? `${plural(summary.requests, 'request')} built (dry run: nothing sent)`
      : `${plural(summary.requests, 'request')} sent` +
          (summary.requests ? ` — statuses: ${statusList(summary.requestStatuses)}` : '')
  )
  for (const sample of summary.malformedSamples) lines.push(`  line ${sample.line}: ${sample.error}`)
  if (summary.malformedLines > summary.malformedSamples.length) {
    lines.push(`  … and ${summary.malformedLines - summary.malformedSamples.length} more malformed lines`)
  }
  const reasons = [...summary.rejected].sort((a, b) => b.count - a.count)
  if (reasons.length) lines.push('not delivered:')
  for (const r of reasons.slice(0, MAX_REASONS)) lines.push(`  ${String(r.count).padStart(5)} × ${r.status} ${r.reason}`)
  if (reasons.length > MAX_REASONS) lines.push(`  … and ${reasons.length - MAX_REASONS} more reasons`)
  if (summary.cohorts.length) lines.push(summary.dryRun ? 'segments that would be touched:' : 'segments touched:')
  for (const c of summary.cohorts) {
    lines.push(`  ${c.cohortName} (${c.cohortId}, ${c.contextKind}): +${c.added} −${c.removed}`)
  }
  return lines
}

/** One request as a dry run prints it: method and URL, then the JSON body. */
export function formatRequest(request: ReplayRequest): string {
  const body = typeof request.body === 'string' ? request.body : JSON.stringify(request.body, null, 2)
  return `${request.method} ${request.url}\n${body}`
}
