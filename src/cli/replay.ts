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
import { replayEvents, replaySubscription, type ReplayProgress, type ReplaySummary } from '../replay'
import { formatRequest, formatSummary } from '../replay/format'
import { countNdjsonLines, readNdjsonFile } from './ndjson'

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

/** `--mapping` (a JSON object of field values) and `--context-kind` (which wins) over the preset. */
export function mappingOverride(options: Pick<ReplayCommandOptions, 'contextKind' | 'mapping'>): JSONObject {
  let mapping: JSONObject = {}
  if (options.mapping) {
    const parsed: unknown = JSON.parse(readFileSync(options.mapping, 'utf8'))
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error(`${options.mapping}: a mapping must be a JSON object of field keys`)
    }
    mapping = parsed as JSONObject
  }
  return options.contextKind ? { ...mapping, context_kind: options.contextKind } : mapping
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
  if (!options.dryRun && (!options.apiKey || !options.clientId)) {
    io.stderr.write('replay: --api-key and --client-id are required (or use --dry-run)\n')
    return 2
  }
  try {
    replaySubscription(destination as DestinationDefinition<never>, { action: options.action, syncMode: options.syncMode })
  } catch (error) {
    io.stderr.write(`replay: ${(error as Error).message}\n`)
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
      mapping: mappingOverride(options),
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
  return replayFailed(summary) ? 1 : 0
}

export function register(program: Command): void {
  program
    .command('replay')
    .description('run Segment events (NDJSON, one per line) through the destination, in order and in batches')
    .argument('<file>', 'NDJSON file of Segment events')
    .option('--base-url <url>', 'where to send: a receiver such as http://127.0.0.1:8787 (default: LaunchDarkly, US instance)')
    .option('--api-key <key>', 'service token (the destination setting apiKey)')
    .option('--client-id <id>', "the environment's client-side ID (the destination setting clientId)")
    .option('--batch-size <n>', 'events per Destination.onBatch call', parsePositiveInteger, DEFAULT_BATCH_SIZE)
    .option('--context-kind <kind>', "set the mapping's context_kind (the preset's default is user)")
    .option('--mapping <file>', "a JSON object of field values laid over the preset's mapping")
    .option('--action <action>', 'the action to run: syncAudience (Engage events, default) or syncWarehouseAudience (Reverse ETL rows)')
    .option('--sync-mode <mode>', 'for syncWarehouseAudience: add, upsert, delete or mirror (default mirror)')
    .option('--dry-run', 'print the requests instead of sending them')
    .action(async (file: string, options: ReplayCommandOptions) => {
      process.exitCode = await runReplay(file, options, { stdout: process.stdout, stderr: process.stderr })
    })
}
