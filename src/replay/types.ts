import type { SegmentEvent } from '@segment/actions-core'

/** One line of an NDJSON source: a parsed event, or why the line could not be read. */
export type EventRecord = { line: number; event: SegmentEvent } | { line: number; error: string }
