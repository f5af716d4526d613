/**
 * Streaming NDJSON reader: one Segment event per line, read with constant memory whatever the
 * file size. A line that is not a JSON object is reported with its number and the replay goes on.
 */
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import type { SegmentEvent } from '@segment/actions-core'
import type { EventRecord } from '../replay/types'

export type { EventRecord }

/** Parses one line; blank lines yield nothing (editors leave them at the end of files). */
export function parseNdjsonLine(text: string, line: number): EventRecord | undefined {
  if (text.trim() === '') return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    return { line, error: `invalid JSON: ${(err as Error).message}` }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      line,
      error: `expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`
    }
  }
  return { line, event: value as SegmentEvent }
}

/** Reads a stream or any source of text chunks (a chunk may hold part of a line or many). */
export async function* readNdjson(
  input: Readable | AsyncIterable<string> | Iterable<string>
): AsyncGenerator<EventRecord> {
  const stream = input instanceof Readable ? input : Readable.from(input)
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  let line = 0
  for await (const text of lines) {
    line += 1
    const record = parseNdjsonLine(text, line)
    if (record) yield record
  }
}

export function readNdjsonFile(path: string): AsyncGenerator<EventRecord> {
  return readNdjson(createReadStream(path, { encoding: 'utf8' }))
}

/** Counts non-blank lines (the progress bar's total) without holding the file in memory. */
export async function countNdjsonLines(path: string): Promise<number> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity })
  let count = 0
  for await (const text of lines) if (text.trim() !== '') count += 1
  return count
}

const SNIFF_BYTES = 8192

/**
 * Why `path` is not an NDJSON file, when that shows before reading it all: a directory, binary
 * data, a JSON array or a pretty-printed JSON document. Undefined when it may well be NDJSON.
 */
export function notNdjson(path: string): string | undefined {
  if (statSync(path).isDirectory()) return `${path} is a directory; replay reads one NDJSON file`
  const head = Buffer.alloc(SNIFF_BYTES)
  const fd = openSync(path, 'r')
  let length: number
  try {
    length = readSync(fd, head, 0, SNIFF_BYTES, 0)
  } finally {
    closeSync(fd)
  }
  const bytes = head.subarray(0, length)
  if (bytes.includes(0)) return `${path} looks like binary data, not NDJSON text (one JSON event per line)`
  const text = bytes.toString('utf8').trimStart()
  if (text.startsWith('[')) {
    return `${path} starts with "[": a JSON array? replay reads NDJSON, one event per line (convert with: jq -c '.[]' ${path})`
  }
  if (/^\{\s*(\n|$)/.test(text)) {
    return `${path} starts with a lone "{": pretty-printed JSON? replay reads NDJSON, one event per line (convert with: jq -c . ${path})`
  }
  return undefined
}
