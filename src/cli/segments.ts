/**
 * `synced-segments segments list|show|members` against a running receiver's read API (§B5), with
 * the global fetch. The client functions and the table are shared with `demo`.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { CREDENTIALS_FILE, type DevCredentials } from '../receiver/config'
import type { Page, SegmentRecord } from '../store/types'
import { parsePositiveInteger } from './replay'

export interface ReceiverTarget {
  baseUrl: string
  apiKey: string
  project: string
  environment: string
}

/** The read API's page size cap for segment lists. */
const LIST_PAGE = 50
const MEMBERS_PAGE = 1000

export class ReceiverRequestError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message)
    this.name = 'ReceiverRequestError'
  }
}

function segmentsUrl(target: ReceiverTarget, ...path: string[]): URL {
  const parts = [target.project, target.environment, ...path].map(encodeURIComponent).join('/')
  return new URL(`/api/v2/segments/${parts}`, target.baseUrl)
}

export async function getJson<T>(target: ReceiverTarget, url: URL): Promise<T> {
  const response = await fetch(url, { headers: { Authorization: target.apiKey, Accept: 'application/json' } })
  const text = await response.text()
  if (!response.ok) {
    let message = text.slice(0, 300)
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message
    } catch {
      // not JSON: keep the text
    }
    throw new ReceiverRequestError(response.status, `GET ${url.pathname} answered ${response.status}: ${message}`)
  }
  return JSON.parse(text) as T
}

export function listSegmentsPage(target: ReceiverTarget, page: { limit: number; offset: number }): Promise<Page<SegmentRecord>> {
  const url = segmentsUrl(target)
  url.searchParams.set('limit', String(page.limit))
  url.searchParams.set('offset', String(page.offset))
  return getJson(target, url)
}

/** Every segment of the environment, page by page. */
export async function listAllSegments(target: ReceiverTarget): Promise<SegmentRecord[]> {
  const segments: SegmentRecord[] = []
  for (;;) {
    const page = await listSegmentsPage(target, { limit: LIST_PAGE, offset: segments.length })
    segments.push(...page.items)
    if (page.items.length === 0 || segments.length >= page.totalCount) return segments
  }
}

export function getSegment(target: ReceiverTarget, key: string): Promise<SegmentRecord> {
  return getJson(target, segmentsUrl(target, key))
}

export async function isIncluded(target: ReceiverTarget, key: string, contextKey: string): Promise<boolean> {
  const answer = await getJson<{ included: boolean }>(target, segmentsUrl(target, key, 'contexts', contextKey))
  return answer.included
}

/** Included context keys in order, following the `next` cursor; stops after `limit` when given. */
export async function* segmentMembers(target: ReceiverTarget, key: string, limit?: number): AsyncGenerator<string> {
  let after: string | null = null
  let yielded = 0
  do {
    const url = segmentsUrl(target, key, 'members')
    url.searchParams.set('limit', String(limit === undefined ? MEMBERS_PAGE : Math.min(MEMBERS_PAGE, limit - yielded)))
    if (after !== null) url.searchParams.set('after', after)
    const page: { items: string[]; next: string | null } = await getJson(target, url)
    for (const member of page.items) {
      yield member
      yielded += 1
    }
    after = page.next
  } while (after !== null && (limit === undefined || yielded < limit))
}

export interface SegmentRow {
  segment: SegmentRecord
  /** A few members, shown after the count. */
  firstMembers?: string[]
}

/** A plain-text table: key, name, context kind, member count (and first members when given). */
export function formatSegmentTable(rows: SegmentRow[]): string[] {
  const withMembers = rows.some((r) => r.firstMembers)
  const header = ['KEY', 'NAME', 'KIND', 'MEMBERS', ...(withMembers ? ['FIRST MEMBERS'] : [])]
  const cells = rows.map(({ segment, firstMembers }) => [
    segment.key,
    segment.name,
    segment.unboundedContextKind,
    String(segment.includedCount),
    ...(withMembers ? [formatFirstMembers(firstMembers ?? [], segment.includedCount)] : [])
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i].length)))
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === 3 ? cell.padStart(widths[i]) : i === row.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  return [line(header), ...cells.map(line)]
}

function formatFirstMembers(members: string[], total: number): string {
  if (total === 0) return '—'
  if (total <= members.length) return members.join(', ')
  return [...members, '…'].join(', ')
}

export function formatSegmentDetails(segment: SegmentRecord): string[] {
  return [
    `key                   ${segment.key}`,
    `name                  ${segment.name}`,
    `context kind          ${segment.unboundedContextKind}`,
    `members               ${segment.includedCount}`,
    `generation            ${segment.generation}`,
    `integration           ${segment._external}`,
    ...(segment._externalLink ? [`cohort URL            ${segment._externalLink}`] : []),
    `created               ${new Date(segment.creationDate).toISOString()}`,
    `last modified         ${new Date(segment.lastModifiedDate).toISOString()}`
  ]
}

export interface TargetOptions {
  baseUrl: string
  apiKey?: string
  data: string
  project: string
  environment: string
}

/** `--api-key`, else the development set-up's token from `<data>/credentials.json`. */
export function resolveTarget(options: TargetOptions): ReceiverTarget {
  let apiKey = options.apiKey
  const credentialsFile = join(options.data, CREDENTIALS_FILE)
  if (!apiKey && existsSync(credentialsFile)) {
    apiKey = (JSON.parse(readFileSync(credentialsFile, 'utf8')) as DevCredentials).token
  }
  if (!apiKey) throw new Error(`no token: pass --api-key, or --data with the receiver's data directory (${credentialsFile} not found)`)
  return { baseUrl: options.baseUrl, apiKey, project: options.project, environment: options.environment }
}

export function withTargetOptions(command: Command): Command {
  return command
    .option('--base-url <url>', 'the receiver', 'http://127.0.0.1:8787')
    .option('--api-key <token>', 'a token with viewProject (default: the development token in --data)')
    .option('--data <dir>', "the receiver's data directory, for its development token", './data')
    .option('--project <key>', 'project key', 'default')
    .option('--environment <key>', 'environment key', 'production')
}

export function register(program: Command): void {
  const segments = program.command('segments').description("list a running receiver's segments and their members")

  withTargetOptions(segments.command('list').description('segments of the environment'))
    .action(async (options: TargetOptions) => {
      const target = resolveTarget(options)
      const rows = (await listAllSegments(target)).map((segment) => ({ segment }))
      process.stdout.write(rows.length ? `${formatSegmentTable(rows).join('\n')}\n` : 'no segments yet\n')
    })

  withTargetOptions(segments.command('show').description('one segment').argument('<key>', 'segment key'))
    .action(async (key: string, options: TargetOptions) => {
      process.stdout.write(`${formatSegmentDetails(await getSegment(resolveTarget(options), key)).join('\n')}\n`)
    })

  withTargetOptions(segments.command('members').description('included context keys, one per line').argument('<key>', 'segment key'))
    .option('--limit <n>', 'at most this many (default: all)', parsePositiveInteger)
    .action(async (key: string, options: TargetOptions & { limit?: number }) => {
      for await (const member of segmentMembers(resolveTarget(options), key, options.limit)) process.stdout.write(`${member}\n`)
    })
}
