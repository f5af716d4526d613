/**
 * Imports of context keys into a big segment (§B7), as LaunchDarkly's API takes them:
 * `POST …/:segmentKey/imports` with a multipart form (`file`: a CSV of context keys, `mode`:
 * `merge` | `replace`) answers 204 with the import's URL in `Location`; `GET …/imports/:id` is its
 * `Import` (`preparing` while the file is staged, `in_progress` while it is applied, then `complete`
 * or `stopped`). As LaunchDarkly's imports do, it needs an existing segment (404 otherwise) and
 * `updateIncluded`; a second import of a segment while one runs is a 409.
 *
 * The file is staged while it uploads, so a bad file (not UTF-8, a key over 1,024 characters, over
 * the size limit, no keys) is answered 400/413, stops the import and changes nothing; a good one is
 * applied after the answer, in the background.
 */
import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import multipart from '@fastify/multipart'
import type { FastifyPluginAsync } from 'fastify'
import { BadRequestError, HttpError, NotFoundError } from '../../errors'
import type { EnvironmentRef, ImportMode, ImportRecord } from '../../store/types'
import { DEFAULT_IMPORT_LIMIT_BYTES } from '../config'
import { csvKeys } from '../csv-keys'
import { BackgroundJobs, environmentFor, jobPath, type SegmentParams } from './bulk-jobs'
import { beginSegmentWriteRecord, noteSync, recordStoppedImport, syncRecordDraft } from '../history'
import { authorize, type ReceiverContext } from './context'

const MODES: readonly ImportMode[] = ['merge', 'replace']

function importMode(value: unknown): ImportMode {
  if (typeof value === 'string' && (MODES as readonly string[]).includes(value)) return value as ImportMode
  throw new BadRequestError(`mode must be "merge" or "replace", got ${JSON.stringify(value)}`)
}

/** The file's bytes, failing once it passed the limit (multipart cuts it off there). */
async function* limited(
  file: Readable & { truncated?: boolean },
  limitBytes: number
): AsyncGenerator<Buffer> {
  for await (const chunk of file) yield chunk as Buffer
  if (file.truncated) {
    throw new HttpError(
      413,
      'request_too_large',
      `the file is larger than the import limit of ${limitBytes} bytes`
    )
  }
}

/** LaunchDarkly's `Import`, plus what this receiver counts (`keyCount`, `added`, `removed`) and `error`. */
export function importJson(env: EnvironmentRef, record: ImportRecord): Record<string, unknown> {
  const self = jobPath(env, record.segmentKey, 'imports', record.id)
  const json: Record<string, unknown> = {
    id: record.id,
    segmentKey: record.segmentKey,
    creationTime: record.creationTime,
    mode: record.mode,
    status: record.status,
    files: [{ filename: record.filename ?? 'import.csv', status: record.status }],
    _links: { self: { href: self, type: 'application/json' } },
    keyCount: record.keys,
    added: record.added,
    removed: record.removed
  }
  if (record.error !== undefined) json.error = record.error
  return json
}

const importsRoutes: FastifyPluginAsync<{ ctx: ReceiverContext }> = async (app, { ctx }) => {
  const limitBytes = ctx.config.importLimitBytes ?? DEFAULT_IMPORT_LIMIT_BYTES
  const background = new BackgroundJobs()
  // Parts beyond these are refused by the parser; the file's own limit is checked as it streams.
  await app.register(multipart, {
    limits: { fileSize: limitBytes, files: 1, fields: 8, fieldSize: 1024, parts: 10 }
  })
  app.addHook('onRequest', async (request) => {
    // An import is a write, recorded in the sync history from the moment its token is recognised.
    if (request.method === 'POST') beginSegmentWriteRecord(ctx, request, 'import')
    authorize(ctx, request)
  })
  app.addHook('onClose', () => background.settle())

  app.post<{ Params: SegmentParams }>(
    '/:projectKey/:environmentKey/:segmentKey/imports',
    async (request, reply) => {
      const env = environmentFor(ctx, request, 'updateIncluded')
      if (!request.isMultipart()) {
        throw new HttpError(
          415,
          'unsupported_media_type',
          'an import is a multipart/form-data upload with a "file" field'
        )
      }
      const { segmentKey } = request.params
      const id = randomUUID()
      const location = jobPath(env, segmentKey, 'imports', id)
      let mode: ImportMode | undefined
      let begun = false
      try {
        for await (const part of request.parts()) {
          if (part.type === 'field') {
            if (part.fieldname === 'mode') mode = importMode(part.value)
            continue
          }
          if (part.fieldname !== 'file') {
            part.file.resume()
            throw new BadRequestError(
              `unexpected file field ${JSON.stringify(part.fieldname)}: the CSV goes in "file"`
            )
          }
          try {
            await ctx.store.beginImport(env, segmentKey, { id, mode, filename: part.filename })
          } catch (error) {
            part.file.resume()
            throw error
          }
          begun = true
          reply.header('location', location)
          const staged = await ctx.store.stageImport(env, id, csvKeys(limited(part.file, limitBytes)))
          noteSync(request, { members: staged.keys })
        }
        if (!begun) throw new BadRequestError('the form has no "file" field with the CSV of context keys')
      } catch (error) {
        const failure =
          error instanceof HttpError || typeof (error as { statusCode?: unknown }).statusCode === 'number'
            ? error
            : new BadRequestError(`malformed multipart upload: ${(error as Error).message}`)
        if (begun) await ctx.store.stopImport(env, id, (failure as Error).message)
        throw failure
      }
      const keys = request.syncRecord?.members ?? 0
      const record = syncRecordDraft(request, 204)
      // After the answer has gone: SQLite applies in one synchronous transaction, which would
      // otherwise hold the 204 back until the import is complete.
      const applying = new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
        ctx.store.applyImport(env, id, mode ?? 'merge', { record })
      )
      background.run(applying, (error) => {
        if (!(error instanceof HttpError)) request.log.error({ err: error }, 'import failed')
        recordStoppedImport(ctx, request, env, segmentKey, keys, error as Error)
      })
      return reply.code(204).header('location', location).send()
    }
  )

  app.get<{ Params: SegmentParams & { importId: string } }>(
    '/:projectKey/:environmentKey/:segmentKey/imports/:importId',
    async (request) => {
      const env = environmentFor(ctx, request, 'viewProject')
      const { segmentKey, importId } = request.params
      const record = await ctx.store.getImport(env, segmentKey, importId)
      if (!record)
        throw new NotFoundError(
          `no import ${JSON.stringify(importId)} of segment ${JSON.stringify(segmentKey)}`
        )
      return importJson(env, record)
    }
  )
}

export default importsRoutes
