/**
 * `synced-segments replay FILE.ndjson`: Segment events through the destination (actions-core's
 * runner, the preset's subscription), in batches, to a receiver or LaunchDarkly — or, with
 * `--dry-run`, printed instead of sent. Progress goes to stderr, requests and the summary to stdout.
 */
import { existsSync, readFileSync } from 'node:fs'
import { SingleBar, Presets } from 'cli-progress'
import { type Command, InvalidArgumentError } from 'commander'
import type { DestinationDefinition, JSONObject } from '@segment/actions-core'
import destination from '../destination'
import { parseJsonText } from '../json-error'
import { presetSubscription, replayEvents, replaySubscription, type ReplayProgress, type ReplaySummary } from '../replay'
import { formatRequest, formatSummary } from '../replay/format'
import { countNdjsonLines, notNdjson, readNdjsonFile } from './ndjson'
import { parseBaseUrl } from './options'

export interface ReplayCommandOptions {
  baseUrl?: string
  apiKey?: string
  clientId?: string
  batchSize: number
  dryRun?: boolean
  contextKind?: string
  mapping?: string
  action?: string
  syncMode?: string
}

export interface Output {
  write(text: string): unknown
  isTTY?: boolean
}

export interface ReplayIO {
  stdout: Output
  stderr: Output
}

export const DEFAULT_BATCH_SIZE = 1000

export function parsePositiveInteger(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer')
  return n
}

/** The field keys of `action`, by default the one the preset subscribes (what a `--mapping` may set). */
export function presetFieldKeys(action?: string): string[] {
  const name = action ?? presetSubscription(destination as DestinationDefinition<never>).partnerAction
  return Object.keys(destination.actions[name]?.fields ?? {})
}

/** `--mapping` (a JSON object of field values) and `--context-kind` (which wins) over the preset. */
export function mappingOverride(
  options: Pick<ReplayCommandOptions, 'contextKind' | 'mapping'>,
  fieldKeys: readonly string[] = presetFieldKeys()
): JSONObject {
  let mapping: JSONObject = {}
  if (options.mapping) {
    let text: string
    try {
      text = readFileSync(options.mapping, 'utf8')
    } catch (error) {
      throw new Error(`--mapping ${options.mapping}: cannot read it: ${(error as Error).message}`)
    }
    const parsed = parseJsonText(text, `--mapping ${options.mapping}`)
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error(`--mapping ${options.mapping}: a mapping must be a JSON object of field keys`)
    }
    const unknown = Object.keys(parsed).filter((key) => !fieldKeys.includes(key))
    if (unknown.length) {
      throw new Error(
        `--mapping ${options.mapping}: unknown field ${unknown.join(', ')} (the fields are ${fieldKeys.join(', ')})`
      )
    }
    mapping = parsed as JSONObject
  }
  return options.contextKind ? { ...mapping, context_kind: options.contextKind } : mapping
}

/**
 * Why nothing was delivered, with what to try; undefined when something was. A file of no events at
 * all is most often not NDJSON (CSV, a JSON document); events that all failed point at the mapping.
 */
export function nothingDeliveredHint(file: string, summary: ReplaySummary): string | undefined {
  if (summary.delivered > 0) return undefined
  const verb = summary.dryRun ? 'would be delivered' : 'was delivered'
  if (summary.eventsRead === 0 && summary.malformedLines > 0) {
    return `nothing ${verb}: no line of ${file} is a JSON object. replay reads NDJSON, one Segment event per line (a CSV or a JSON document is not)`
  }
  if (summary.eventsRead === 0) return `nothing ${verb}: ${file} holds no events`
  return `nothing ${verb}: none of the ${summary.eventsRead} events was accepted (see "not delivered" above; check --mapping, --context-kind and the events' context.personas)`
}

/** Non-validation failures (a request answered non-2xx, no answer at all) make the exit status 1. */
export function replayFailed(summary: ReplaySummary): boolean {
  const badRequest = Object.keys(summary.requestStatuses).some((status) => Number(status) < 200 || Number(status) >= 300)
  return badRequest || summary.rejected.some((r) => r.status !== 400)
}

/** A bar on a terminal; elsewhere (CI, pipes) a plain line at each tenth of the file. */
function progressReporter(total: number, stderr: Output): { update(p: ReplayProgress): void; stop(): void } {
  if (stderr.isTTY) {
    const bar = new SingleBar(
      {
        stream: stderr as NodeJS.WritableStream,
        format: 'replay [{bar}] {percentage}% | {value}/{total} lines | {requests} requests',
        hideCursor: true,
        clearOnComplete: true
      },
      Presets.shades_classic
    )
    bar.start(total, 0, { requests: 0 })
    return { update: (p) => bar.update(p.lines, { requests: p.requests }), stop: () => bar.stop() }
  }
  let reportedTenth = 0
  return {
    update(p) {
      const tenth = total ? Math.floor((p.lines / total) * 10) : 10
      if (tenth <= reportedTenth) return
      reportedTenth = tenth
      stderr.write(`replay: ${p.lines}/${total} lines, ${p.batches} batches, ${p.requests} requests\n`)
    },
    stop() {}
  }
}

/** Runs the command; resolves to the exit status. */
export async function runReplay(file: string, options: ReplayCommandOptions, io: ReplayIO): Promise<number> {
  if (!existsSync(file)) {
    io.stderr.write(`replay: no such file ${file}\n`)
    return 2
  }
  const notNdjsonReason = notNdjson(file)
  if (notNdjsonReason) {
    io.stderr.write(`replay: ${notNdjsonReason}\n`)
    return 2
  }
  let mapping: JSONObject
  try {
    replaySubscription(destination as DestinationDefinition<never>, { action: options.action, syncMode: options.syncMode })
    mapping = mappingOverride(options, presetFieldKeys(options.action))
  } catch (error) {
    io.stderr.write(`replay: ${(error as Error).message}\n`)
    return 2
  }
  if (!options.dryRun && (!options.apiKey || !options.clientId)) {
    io.stderr.write('replay: --api-key and --client-id are required (or use --dry-run)\n')
    return 2
  }
  const total = await countNdjsonLines(file)
  const progress = progressReporter(total, io.stderr)
  let summary: ReplaySummary
  try {
    summary = await replayEvents(readNdjsonFile(file), {
      // A dry run shows where the values go even without real credentials.
      settings: {
        apiKey: options.apiKey ?? 'API_KEY',
        clientId: options.clientId ?? 'CLIENT_ID',
        apiBaseUrl: options.baseUrl
      },
      batchSize: options.batchSize,
      mapping,
      action: options.action,
      syncMode: options.syncMode,
      dryRun: options.dryRun,
      onProgress: (p) => progress.update(p),
      onRequest: options.dryRun ? (request) => io.stdout.write(`${formatRequest(request)}\n\n`) : undefined
    })
  } finally {
    progress.stop()
  }
  io.stdout.write(`${formatSummary(summary).join('\n')}\n`)
  const hint = nothingDeliveredHint(file, summary)
  if (hint) io.stderr.write(`replay: ${hint}\n`)
  return hint || replayFailed(summary) ? 1 : 0
}

export function register(program: Command): void {
  program
    .command('replay')
    .description('run Segment events (NDJSON, one per line) through the destination, in order and in batches')
    .argument('<file>', 'NDJSON file of Segment events')
    .option(
      '--base-url <url>',
      'where to send: a receiver such as http://127.0.0.1:8787 (default: LaunchDarkly, US instance)',
      parseBaseUrl
    )
    .option('--api-key <key>', 'service token (the destination setting apiKey)')
    .option('--client-id <id>', "the environment's client-side ID (the destination setting clientId)")
    .option(
      '--batch-size <n>',
      'events per Destination.onBatch call',
      parsePositiveInteger,
      DEFAULT_BATCH_SIZE
    )
    .option('--context-kind <kind>', "set the mapping's context_kind (the preset's default is user)")
    .option('--mapping <file>', "a JSON object of field values laid over the preset's mapping")
    .option('--action <action>', 'the action to run: syncAudience (Engage events, default) or syncWarehouseAudience (Reverse ETL rows)')
    .option('--sync-mode <mode>', 'for syncWarehouseAudience: add, upsert, delete or mirror (default mirror)')
    .option('--dry-run', 'print the requests instead of sending them')
    .action(async (file: string, options: ReplayCommandOptions) => {
      process.exitCode = await runReplay(file, options, { stdout: process.stdout, stderr: process.stderr })
    })
}
