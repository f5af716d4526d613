/**
 * A `replace` import (§E2): one CSV of N context keys uploaded to a running receiver as
 * LaunchDarkly's API takes it (multipart `file` + `mode`), timed from the upload's first byte to
 * the import's `complete`, with the receiver's peak RSS over that time, per store. The segment
 * holds other keys before, so the replace both adds and removes.
 */
import { createWriteStream, openAsBlob } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import type { CodeUnderTest } from './code'
import { postOnce, syncPath } from './receiver'
import {
  BENCH_CLIENT_ID,
  BENCH_ENVIRONMENT,
  BENCH_PROJECT,
  BENCH_TOKEN,
  startReceiverProcess,
  writeBenchConfig
} from './receiver-process'
import { freshStore, type StoreKind } from './stores'
import { buildLoadBody } from './workloads'

export interface ImportSizes {
  /** Context keys in the file. */
  keys: number
  /** Requests of 1000 members syncing the segment's earlier keys. */
  seedRequests: number
}

export interface ImportFigures {
  store: StoreKind
  keys: number
  fileBytes: number
  seconds: number
  /** Of `seconds`, until the upload was answered: the file uploaded, read and staged. */
  uploadSeconds: number
  keysPerSecond: number
  /** CPU the receiver spent on the import: other work on the machine does not inflate it. */
  receiverCpuSeconds: number
  /** CPU redis-server spent meanwhile (Redis only). */
  storeServerCpuSeconds?: number
  added: number
  removed: number
  peakRssBytes: number
}

/** A UUID-shaped key per row, the shape most context keys have, written without holding the file. */
async function writeKeysFile(path: string, keys: number): Promise<number> {
  const out = createWriteStream(path)
  out.write('key\n')
  let bytes = 4
  for (let i = 0; i < keys; i += 10_000) {
    let chunk = ''
    for (let k = i; k < Math.min(keys, i + 10_000); k++) {
      const hex = ((k * 2654435761) >>> 0).toString(16).padStart(8, '0')
      chunk += `${hex}-${String(k).padStart(4, '0').slice(-4)}-4000-8000-${String(k).padStart(12, '0')}\n`
    }
    bytes += Buffer.byteLength(chunk)
    if (!out.write(chunk)) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
  return bytes
}

interface ImportJson {
  status: string
  added: number
  removed: number
  keyCount: number
  error?: string
}

export async function benchImport(
  code: CodeUnderTest,
  kind: StoreKind,
  sizes: ImportSizes,
  /** Write a V8 CPU profile of the receiver into this directory. */
  cpuProfDir?: string
): Promise<ImportFigures> {
  const store = await freshStore(kind)
  const file = join(store.dataDir, 'keys.csv')
  const fileBytes = await writeKeysFile(file, sizes.keys)
  const receiver = await startReceiverProcess(code, {
    cpuProfDir,
    store: store.spec,
    dataDir: store.dataDir,
    configFile: writeBenchConfig(store.dataDir)
  })
  try {
    // Every seed request syncs 1000 members into the same bench cohort's segment.
    for (let r = 0; r < sizes.seedRequests; r++)
      await postOnce(receiver.url, syncPath('segment-audiences'), buildLoadBody(r, 1000, BENCH_CLIENT_ID))
    const segments = await fetch(`${receiver.url}/api/v2/segments/${BENCH_PROJECT}/${BENCH_ENVIRONMENT}`, {
      headers: { authorization: BENCH_TOKEN }
    })
    const { items } = (await segments.json()) as { items: { key: string }[] }
    const segmentPath = `/api/v2/segments/${BENCH_PROJECT}/${BENCH_ENVIRONMENT}/${items[0].key}`

    const form = new FormData()
    form.append('file', await openAsBlob(file, { type: 'text/csv' }), 'keys.csv')
    form.append('mode', 'replace')
    receiver.resetPeakRss()
    const cpuAtStart = receiver.cpuSeconds()
    const serverCpuAtStart = store.serverCpuSeconds?.()
    const startedAt = performance.now()
    const created = await fetch(`${receiver.url}${segmentPath}/imports`, {
      method: 'POST',
      headers: { authorization: BENCH_TOKEN },
      body: form
    })
    if (created.status !== 204)
      throw new Error(`the import answered ${created.status}: ${await created.text()}`)
    const uploadSeconds = (performance.now() - startedAt) / 1000
    const location = created.headers.get('location') as string
    let result: ImportJson
    for (;;) {
      const response = await fetch(`${receiver.url}${location}`, { headers: { authorization: BENCH_TOKEN } })
      result = (await response.json()) as ImportJson
      if (result.status === 'complete' || result.status === 'stopped') break
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const seconds = (performance.now() - startedAt) / 1000
    const receiverCpuSeconds = receiver.cpuSeconds() - cpuAtStart
    const storeServerCpuSeconds =
      serverCpuAtStart === undefined ? undefined : (store.serverCpuSeconds?.() ?? 0) - serverCpuAtStart
    if (result.status !== 'complete')
      throw new Error(`the import stopped: ${result.error ?? 'no reason given'}`)
    if (result.keyCount !== sizes.keys)
      throw new Error(`the import read ${result.keyCount} keys, expected ${sizes.keys}`)
    return {
      store: kind,
      keys: sizes.keys,
      fileBytes,
      seconds,
      uploadSeconds,
      keysPerSecond: sizes.keys / seconds,
      receiverCpuSeconds,
      storeServerCpuSeconds,
      added: result.added,
      removed: result.removed,
      peakRssBytes: receiver.peakRssBytes()
    }
  } finally {
    await receiver.stop()
    await store.dispose()
  }
}
