/**
 * `synced-segments demo`: the main job end to end on the embedded default. A receiver on SQLite in
 * a temporary directory, the bundled Engage fixtures replayed through the destination over HTTP,
 * then the resulting segments and a few membership checks whose answers come from the events.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import type { Command } from 'commander'
import type { JSONObject, SegmentEvent } from '@segment/actions-core'
import { SEGMENT_AUDIENCES_PATH } from '../destination/constants'
import { createReceiver, type Receiver } from '../receiver/index'
import { CONSOLE_PREFIX } from '../receiver/links'
import { segmentKeyFor } from '../receiver/segment-key'
import { replayEvents, type ReplaySummary } from '../replay'
import { plural, statusList } from '../replay/format'
import { replayFailed } from './replay'
import { membershipStories, pickChecks, type Check } from '../replay/stories'
import { readNdjsonFile } from './ndjson'
import { formatSegmentTable, isIncluded, listAllSegments, segmentMembers, type ReceiverTarget } from './segments'

/** `fixtures/` sits two levels up from both src/cli (ts-node) and dist/cli (compiled). */
export const ENGAGE_FIXTURES_DIR = join(__dirname, '..', '..', 'fixtures', 'engage')

/** Each Engage space is its own Segment source with its own mapping (see fixtures/engage/README.md). */
export const DEMO_REPLAYS: ReadonlyArray<{ file: string; space: string; mapping: JSONObject }> = [
  { file: 'demo.ndjson', space: 'people', mapping: {} },
  { file: 'demo-organizations.ndjson', space: 'organizations', mapping: { context_kind: 'organization' } }
]

/** Small batches, so the demo goes through several `onBatch` calls in order. */
const DEMO_BATCH_SIZE = 40
const FIRST_MEMBERS = 3
const INTEGRATION_KEY = SEGMENT_AUDIENCES_PATH.split('/').pop() as string

export interface DemoOptions {
  fixturesDir?: string
  /** Keep the temporary data directory (its path is printed). */
  keep?: boolean
  /** With `keep`: the receiver goes on serving (its console too) until this settles. */
  serveUntil?: Promise<unknown>
}

function replayLine(file: string, space: string, kind: string, summary: ReplaySummary): string {
  const rejected = summary.rejected.reduce((sum, r) => sum + r.count, 0)
  const parts = [
    plural(summary.eventsRead, 'event'),
    plural(summary.batches, 'batch', 'batches'),
    `${plural(summary.requests, 'request')} (${statusList(summary.requestStatuses) || 'none'})`,
    `${rejected} rejected`,
    ...(summary.malformedLines ? [`${plural(summary.malformedLines, 'malformed line')} skipped`] : [])
  ]
  return `  ${file}  (${space} space, context kind ${kind})\n    ${parts.join(' · ')}`
}

async function readEvents(path: string): Promise<SegmentEvent[]> {
  const events: SegmentEvent[] = []
  for await (const record of readNdjsonFile(path)) if ('event' in record) events.push(record.event)
  return events
}

/** Runs the demo, writing to `out`; resolves to the exit status. */
export async function runDemo(out: { write(text: string): unknown }, options: DemoOptions = {}): Promise<number> {
  const fixturesDir = options.fixturesDir ?? ENGAGE_FIXTURES_DIR
  const dataDir = mkdtempSync(join(tmpdir(), 'synced-segments-demo-'))
  const print = (...lines: string[]) => out.write(`${lines.join('\n')}\n`)
  let receiver: Receiver | undefined
  try {
    receiver = await createReceiver({ dataDir, logger: false })
    await receiver.app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = receiver.app.server.address() as AddressInfo
    const baseUrl = `http://127.0.0.1:${port}`
    const credentials = receiver.credentials
    if (!credentials) throw new Error('the demo receiver has no development credentials')
    const target: ReceiverTarget = {
      baseUrl,
      apiKey: credentials.token,
      project: credentials.projectKey,
      environment: credentials.environmentKey
    }

    print(
      'synced-segments demo: Engage audiences → destination → receiver',
      `  receiver  ${baseUrl}  (SQLite in ${dataDir})`,
      '',
      'Replaying Engage events through the destination (preset "Sync Engage Audience to LaunchDarkly"):'
    )
    let failed = false
    const checks: Array<Check & { kind: string }> = []
    for (const replay of DEMO_REPLAYS) {
      const path = join(fixturesDir, replay.file)
      const kind = String(replay.mapping.context_kind ?? 'user')
      const summary = await replayEvents(readNdjsonFile(path), {
        settings: { apiKey: credentials.token, clientId: credentials.clientSideId, apiBaseUrl: baseUrl },
        batchSize: DEMO_BATCH_SIZE,
        mapping: replay.mapping
      })
      failed ||= replayFailed(summary)
      print(replayLine(basename(path), replay.space, kind, summary))
      const picked = pickChecks(membershipStories(await readEvents(path)))
      checks.push(...picked.slice(0, replay === DEMO_REPLAYS[0] ? 3 : 1).map((check) => ({ ...check, kind })))
    }
    print('  (rejected on purpose: no user ID, non-boolean membership, page views — see fixtures/engage/README.md)')

    const segments = await listAllSegments(target)
    const rows = []
    for (const segment of segments) {
      const firstMembers: string[] = []
      for await (const member of segmentMembers(target, segment.key, FIRST_MEMBERS)) firstMembers.push(member)
      rows.push({ segment, firstMembers })
    }
    print('', `Segments in ${target.project}/${target.environment}:`, ...formatSegmentTable(rows).map((line) => `  ${line}`))

    print('', 'Membership checks (expected from the events, read back over HTTP):')
    let passed = 0
    for (const { story, because, kind } of checks) {
      const segmentKey = segmentKeyFor(INTEGRATION_KEY, story.audienceId)
      const included = await isIncluded(target, segmentKey, story.contextKey)
      const ok = included === story.included
      if (ok) passed += 1
      const verdict = included ? 'is in' : 'is not in'
      print(`  ${ok ? '✓' : '✗'} ${story.contextKey} (${kind}) ${verdict} ${story.audienceKey}: ${because}`)
    }
    const allPassed = passed === checks.length && !failed
    print('', `${segments.length} segments, ${passed}/${checks.length} checks passed.${allPassed ? '' : ' Something is wrong.'}`)
    if (options.keep) print(`Data kept in ${dataDir}`)
    print(
      '',
      'Next: run `npx synced-segments serve`, then replay your own export with',
      '  npx synced-segments replay FILE.ndjson --base-url http://127.0.0.1:8787 --api-key TOKEN --client-id CLIENT_SIDE_ID',
      '(serve prints the token and client-side ID; add --dry-run to see the requests without sending them).'
    )
    const serving = options.keep === true && options.serveUntil !== undefined
    print(
      '',
      `Console: ${baseUrl}${CONSOLE_PREFIX}/  (sign in with the access token ${credentials.token})`,
      serving ? '  serving until Ctrl-C' : '  this receiver stops now: `npx synced-segments demo --keep` keeps it serving'
    )
    if (serving) await options.serveUntil
    return allPassed ? 0 : 1
  } finally {
    await receiver?.close()
    if (!options.keep) rmSync(dataDir, { recursive: true, force: true })
  }
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('start a receiver on SQLite in a temporary directory, replay the bundled Engage events, show the segments')
    .option('--keep', 'keep the temporary data directory and keep serving (the console too) until Ctrl-C')
    .action(async (options: { keep?: boolean }) => {
      // Only a kept demo waits for Ctrl-C; otherwise the signals keep their default meaning.
      const stopped = options.keep ? new Promise((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve)) : undefined
      process.exitCode = await runDemo(process.stdout, { keep: options.keep, serveUntil: stopped })
    })
}
