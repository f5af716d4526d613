/**
 * What both stores share for imports and exports (§B7): the records' life cycle, and keys read in
 * bounded chunks, so neither store ever holds a whole file in memory.
 */
import { readdirSync, rmSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { ConflictError, NotFoundError } from '../errors'
import type { EnvironmentRef, ImportMode, ImportRecord, ImportStatus, SegmentStore } from './types'

/** Keys per staging write: large enough to amortise a round trip, small enough to stay bounded. */
export const STAGE_CHUNK = 5000
/** Finished imports and exports are kept this long, then forgotten. */
export const JOB_RETENTION_MS = 7 * 24 * 60 * 60 * 1000
/** The status an import reports when the process running it went away before it finished. */
export const ABANDONED = 'the import was abandoned: the receiver running it stopped before it finished'

export function isRunning(status: ImportStatus): boolean {
  return status === 'preparing' || status === 'in_progress'
}

export function newImportRecord(
  segmentKey: string,
  init: { id: string; mode?: ImportMode; filename?: string; now?: number }
): ImportRecord {
  const record: ImportRecord = {
    id: init.id,
    segmentKey,
    mode: init.mode ?? 'merge',
    status: 'preparing',
    creationTime: init.now ?? Date.now(),
    keys: 0,
    added: 0,
    removed: 0
  }
  if (init.filename !== undefined) record.filename = init.filename
  return record
}

export function segmentMissing(env: EnvironmentRef, segmentKey: string): NotFoundError {
  return new NotFoundError(
    `no segment ${JSON.stringify(segmentKey)} in ${env.projectKey}/${env.environmentKey}`
  )
}

export function importRunning(segmentKey: string): ConflictError {
  return new ConflictError(`an import into segment ${segmentKey} is already in progress`)
}

export function unknownImport(importId: string): NotFoundError {
  return new NotFoundError(`no import ${JSON.stringify(importId)} is being prepared`)
}

/**
 * Batches of keys, whatever their sizes, cut again into arrays of `size` (the last may be shorter).
 * Keys travel in batches, not one by one: an await per key cost more than the staging itself.
 */
export async function* chunked(
  batches: AsyncIterable<readonly string[]>,
  size = STAGE_CHUNK
): AsyncGenerator<string[]> {
  let chunk: string[] = []
  for await (const batch of batches) {
    for (const key of batch) {
      chunk.push(key)
      if (chunk.length === size) {
        yield chunk
        chunk = []
      }
    }
  }
  if (chunk.length > 0) yield chunk
}

/** Begins, stages and applies an import in one call: what a caller with the mode in hand uses. */
export async function importMembers(
  store: SegmentStore,
  env: EnvironmentRef,
  segmentKey: string,
  keys: AsyncIterable<readonly string[]>,
  mode: ImportMode,
  init: { id: string; filename?: string; now?: number }
): Promise<ImportRecord> {
  await store.beginImport(env, segmentKey, { ...init, mode })
  await store.stageImport(env, init.id, keys)
  return store.applyImport(env, init.id, mode)
}

/** Where the SQLite store stages imports: files beside its database, their names starting with this. */
export function sqliteStagingPrefix(databasePath: string): string {
  return `${databasePath}-import-`
}

/**
 * Removes the staging files left beside `prefix` (its directory, names starting with its file
 * name) by a process that died while importing. Only while no other process can be importing into
 * them: the receiver calls it holding its data directory's lock.
 */
export function removeStaleStaging(prefix: string): void {
  const dir = dirname(prefix)
  const start = basename(prefix)
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return
  }
  for (const name of names) if (name.startsWith(start)) rmSync(join(dir, name), { force: true })
}
