/**
 * One big segment on SQLite: loaded through the receiver (1000-member requests), then read back —
 * member lookups under load and a full listing through the streamed members endpoint, in one
 * response and in cursor pages — with the receiver's peak RSS for each phase.
 */
import { runLoad } from './load'
import {
  BENCH_CLIENT_ID,
  BENCH_ENVIRONMENT,
  BENCH_PROJECT,
  BENCH_TOKEN,
  startReceiverProcess,
  writeBenchConfig
} from './receiver-process'
import type { CodeUnderTest } from './code'
import { postOnce, SYNC_HEADERS, syncPath } from './receiver'
import { freshStore } from './stores'
import { buildLoadBody, contextKey } from './workloads'

export interface BigSegmentSizes {
  requests: number
  membersPerRequest: number
  connections: number
  lookups: number
  /** Page size of the cursor-paged listing. */
  pageSize: number
}

export interface BigSegmentFigures {
  members: number
  loadSeconds: number
  loadMembersPerSecond: number
  loadPeakRssBytes: number
  lookupP50Ms: number
  lookupP99Ms: number
  lookupsPerSecond: number
  lookupPeakRssBytes: number
  /** One GET …/members?limit=<all>: the whole segment in one streamed response. */
  streamedListingSeconds: number
  streamedListingBytes: number
  streamedListingPeakRssBytes: number
  /** Every page of …/members?limit=<pageSize>&after=<cursor>. */
  pagedListingSeconds: number
  pagedListingPages: number
  pagedListingPeakRssBytes: number
  /** The receiver's peak RSS over its whole life. */
  peakRssBytes: number
}

const SEGMENT_KEY = 'segment-audiences-aud_big'

interface MembersPage {
  totalCount: number
  items: string[]
  next: string | null
}

async function getJson<T>(url: string): Promise<{ value: T; bytes: number }> {
  const response = await fetch(url, { headers: { authorization: BENCH_TOKEN } })
  const text = await response.text()
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}: ${text}`)
  return { value: JSON.parse(text) as T, bytes: Buffer.byteLength(text) }
}

export async function benchBigSegment(
  code: CodeUnderTest,
  sizes: BigSegmentSizes
): Promise<BigSegmentFigures> {
  const members = sizes.requests * sizes.membersPerRequest
  const bodies = Array.from({ length: sizes.requests }, (_, r) =>
    buildLoadBody(r, sizes.membersPerRequest, BENCH_CLIENT_ID)
  )
  const store = await freshStore('sqlite')
  const receiver = await startReceiverProcess(code, {
    store: store.spec,
    dataDir: store.dataDir,
    configFile: writeBenchConfig(store.dataDir)
  })
  const segmentUrl = `${receiver.url}/api/v2/segments/${BENCH_PROJECT}/${BENCH_ENVIRONMENT}/${SEGMENT_KEY}`
  try {
    const path = syncPath('segment-audiences')
    const startedAt = performance.now()
    await postOnce(receiver.url, path, bodies[0])
    await runLoad({
      url: receiver.url,
      connections: sizes.connections,
      amount: sizes.requests - 1,
      request: (n) => ({ method: 'POST', path, headers: SYNC_HEADERS, body: bodies[1 + n] })
    })
    const loadSeconds = (performance.now() - startedAt) / 1000
    const loadPeakRssBytes = receiver.peakRssBytes()
    const { value: segment } = await getJson<{ includedCount: number }>(segmentUrl)
    if (segment.includedCount !== members)
      throw new Error(`the segment has ${segment.includedCount} members, expected ${members}`)

    receiver.resetPeakRss()
    // Deterministic spread over the whole key space: request r = n × 7919 mod R, member n mod M.
    const lookups = await runLoad({
      url: receiver.url,
      connections: sizes.connections,
      amount: sizes.lookups,
      request: (n) => {
        const key = contextKey((n * 7919) % sizes.requests, n % sizes.membersPerRequest)
        return {
          method: 'GET',
          path: `${new URL(segmentUrl).pathname}/contexts/${key}`,
          headers: { authorization: BENCH_TOKEN }
        }
      }
    })
    const lookupPeakRssBytes = receiver.peakRssBytes()

    receiver.resetPeakRss()
    let listingStart = performance.now()
    const streamed = await getJson<MembersPage>(`${segmentUrl}/members?limit=${members}`)
    const streamedListingSeconds = (performance.now() - listingStart) / 1000
    if (streamed.value.items.length !== members)
      throw new Error(`listed ${streamed.value.items.length} members, expected ${members}`)
    const streamedListingPeakRssBytes = receiver.peakRssBytes()

    receiver.resetPeakRss()
    listingStart = performance.now()
    let pages = 0
    let listed = 0
    let after: string | null = null
    do {
      const query: string = after === null ? '' : `&after=${encodeURIComponent(after)}`
      const { value: page } = await getJson<MembersPage>(
        `${segmentUrl}/members?limit=${sizes.pageSize}${query}`
      )
      pages += 1
      listed += page.items.length
      after = page.next
    } while (after !== null)
    const pagedListingSeconds = (performance.now() - listingStart) / 1000
    if (listed !== members) throw new Error(`paged through ${listed} members, expected ${members}`)
    const pagedListingPeakRssBytes = receiver.peakRssBytes()

    return {
      members,
      loadSeconds,
      loadMembersPerSecond: members / loadSeconds,
      loadPeakRssBytes,
      lookupP50Ms: lookups.latencyP50Ms,
      lookupP99Ms: lookups.latencyP99Ms,
      lookupsPerSecond: lookups.requests / lookups.seconds,
      lookupPeakRssBytes,
      streamedListingSeconds,
      streamedListingBytes: streamed.bytes,
      streamedListingPeakRssBytes,
      pagedListingSeconds,
      pagedListingPages: pages,
      pagedListingPeakRssBytes,
      peakRssBytes: Math.max(
        loadPeakRssBytes,
        lookupPeakRssBytes,
        streamedListingPeakRssBytes,
        pagedListingPeakRssBytes
      )
    }
  } finally {
    await receiver.stop()
    await store.dispose()
  }
}
