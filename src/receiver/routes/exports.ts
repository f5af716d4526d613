/**
 * Exports of a big segment's included keys (§B7), as LaunchDarkly's API offers them:
 * `POST …/:segmentKey/exports` answers 200 with the export's URL in `Location` (and its `Export`
 * as the body); `GET …/exports/:id` is LaunchDarkly's `Export`, whose `_links.file` — once
 * `complete` — is the CSV download `GET …/exports/:id/file`. The file is a `key` header and one
 * included context key a row, in byte order, streamed from the store in constant memory; its size
 * is measured when the export finishes, and the download reads the keys as they are then.
 */
import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import type { FastifyPluginAsync } from 'fastify'
import { ConflictError, NotFoundError } from '../../errors'
import type { EnvironmentRef, ExportRecord } from '../../store/types'
import { BackgroundJobs, environmentFor, jobPath, type SegmentParams } from './bulk-jobs'
import { authorize, type ReceiverContext } from './context'

/** Rows are written in chunks of about this many characters, not one write per key. */
const CHUNK_CHARS = 16 * 1024

/** A CSV field: quoted (quotes doubled) when it holds a separator, a quote or a line break. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value
}

/** The export file's text, chunk by chunk, as the store yields the keys. */
export async function* csvFile(keys: AsyncIterable<string>): AsyncGenerator<string> {
  let chunk = 'key\n'
  for await (const key of keys) {
    chunk += `${csvField(key)}\n`
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk
      chunk = ''
    }
  }
  yield chunk
}

/** "18 B", "1.5 KB", "36.2 MB": the `size` LaunchDarkly shows beside `sizeBytes`. */
export function formatSize(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`
}

/** LaunchDarkly's `Export`, plus `keyCount`. */
export function exportJson(env: EnvironmentRef, record: ExportRecord): Record<string, unknown> {
  const self = jobPath(env, record.segmentKey, 'exports', record.id)
  const links: Record<string, { href: string; type: string }> = {
    self: { href: self, type: 'application/json' }
  }
  if (record.status === 'complete') links.file = { href: `${self}/file`, type: 'text/csv' }
  return {
    id: record.id,
    segmentKey: record.segmentKey,
    creationTime: record.creationTime,
    status: record.status,
    sizeBytes: record.sizeBytes,
    size: formatSize(record.sizeBytes),
    initiator: { name: record.initiator },
    _links: links,
    keyCount: record.keys
  }
}

const exportsRoutes: FastifyPluginAsync<{ ctx: ReceiverContext }> = async (app, { ctx }) => {
  const background = new BackgroundJobs()
  // LaunchDarkly's create call has no body, and clients send one of any type (axios: a form type).
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_request, _body, done) =>
    done(null, undefined)
  )
  app.addHook('onRequest', async (request) => {
    authorize(ctx, request)
  })
  app.addHook('onClose', () => background.settle())

  const exportOf = async (
    env: EnvironmentRef,
    segmentKey: string,
    exportId: string
  ): Promise<ExportRecord> => {
    const record = await ctx.store.getExport(env, segmentKey, exportId)
    if (!record)
      throw new NotFoundError(
        `no export ${JSON.stringify(exportId)} of segment ${JSON.stringify(segmentKey)}`
      )
    return record
  }

  /** Counts the keys and bytes of the file, then marks the export complete. */
  const measure = async (env: EnvironmentRef, record: ExportRecord): Promise<void> => {
    let keys = 0
    let sizeBytes = 0
    const counted = async function* (): AsyncGenerator<string> {
      for await (const key of ctx.store.members(env, record.segmentKey, {})) {
        keys += 1
        yield key
      }
    }
    for await (const chunk of csvFile(counted())) sizeBytes += Buffer.byteLength(chunk)
    await ctx.store.saveExport(env, { ...record, status: 'complete', keys, sizeBytes })
  }

  app.post<{ Params: SegmentParams }>(
    '/:projectKey/:environmentKey/:segmentKey/exports',
    async (request, reply) => {
      const env = environmentFor(ctx, request, 'viewProject')
      const { segmentKey } = request.params
      if (!(await ctx.store.getSegment(env, segmentKey))) {
        throw new NotFoundError(
          `no segment ${JSON.stringify(segmentKey)} in ${env.projectKey}/${env.environmentKey}`
        )
      }
      const record: ExportRecord = {
        id: randomUUID(),
        segmentKey,
        status: 'in_progress',
        creationTime: Date.now(),
        initiator: request.principal?.name ?? '',
        keys: 0,
        sizeBytes: 0
      }
      await ctx.store.saveExport(env, record)
      background.run(measure(env, record), (error) => {
        request.log.error({ err: error }, 'export failed')
        void ctx.store.saveExport(env, { ...record, status: 'stopped' }).catch(() => undefined)
      })
      return reply
        .code(200)
        .header('location', jobPath(env, segmentKey, 'exports', record.id))
        .send(exportJson(env, record))
    }
  )

  app.get<{ Params: SegmentParams & { exportId: string } }>(
    '/:projectKey/:environmentKey/:segmentKey/exports/:exportId',
    async (request) => {
      const env = environmentFor(ctx, request, 'viewProject')
      return exportJson(env, await exportOf(env, request.params.segmentKey, request.params.exportId))
    }
  )

  app.get<{ Params: SegmentParams & { exportId: string } }>(
    '/:projectKey/:environmentKey/:segmentKey/exports/:exportId/file',
    async (request, reply) => {
      const env = environmentFor(ctx, request, 'viewProject')
      const { segmentKey, exportId } = request.params
      const record = await exportOf(env, segmentKey, exportId)
      if (record.status !== 'complete')
        throw new ConflictError(`export ${exportId} is ${record.status}, not complete`)
      const filename = `${segmentKey.replace(/[^A-Za-z0-9._-]/g, '_')}.csv`
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${filename}"`)
        .send(Readable.from(csvFile(ctx.store.members(env, segmentKey, {}))))
    }
  )
}

export default exportsRoutes
