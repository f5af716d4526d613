/**
 * The context keys of an import file (§B7): a CSV whose first column holds one context key per
 * row, other columns ignored, with an optional header row. Read as it streams in, so memory stays
 * bounded whatever the file's size; anything that makes the file untrustworthy is a 400 that names
 * the row, and the import it feeds is stopped with nothing changed.
 */
import { pipeline, Readable } from 'node:stream'
import { CsvError, parse } from 'csv-parse'
import { BadRequestError } from '../errors'
import { MAX_MEMBER_ID_LENGTH } from './parse'

/** A row longer than this is refused before it is buffered whole (the key itself is far shorter). */
const MAX_ROW_CHARS = 64 * 1024

/**
 * First cells that name the column rather than hold a key, compared without case, spaces, `_` or
 * `-`: what LaunchDarkly's export and common tools write as the header.
 */
const HEADER_NAMES = new Set([
  'key',
  'keys',
  'contextkey',
  'contextkeys',
  'userkey',
  'userkeys',
  'id',
  'userid'
])

export function isHeaderCell(cell: string): boolean {
  return HEADER_NAMES.has(cell.toLowerCase().replace(/[\s_-]/g, ''))
}

/** Text of a byte stream, refusing bytes that are not UTF-8 (a leading BOM is dropped). */
async function* utf8Text(chunks: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true })
  let offset = 0
  const decode = (chunk?: Buffer): string => {
    try {
      return chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true })
    } catch {
      throw new BadRequestError(
        `the file is not valid UTF-8 (in the ${offset.toLocaleString('en-US')} bytes after the start)`
      )
    }
  }
  for await (const chunk of chunks) {
    const text = decode(chunk)
    offset += chunk.length
    if (text !== '') yield text
  }
  const rest = decode()
  if (rest !== '') yield rest
}

/** csv-parse's records of a text stream, as arrays of their first cells. */
async function* parsedFirstCells(text: AsyncIterable<string>): AsyncGenerator<string[]> {
  const records = pipeline(
    Readable.from(text),
    parse({
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      max_record_size: MAX_ROW_CHARS
    }),
    () => undefined
  ) as AsyncIterable<string[]>
  try {
    for await (const record of records) yield [record[0]]
  } catch (error) {
    // csv-parse's own errors (an unclosed quote, a row over the limit) say what and where.
    if (error instanceof CsvError) throw new BadRequestError(`the file is not valid CSV: ${error.message}`)
    throw error
  }
}

/** First cells of complete lines without quotes: CSV's rules reduce to "up to the first comma". */
function plainFirstCells(lines: string): string[] {
  const cells: string[] = []
  for (const raw of lines.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (line === '') continue
    if (line.length > MAX_ROW_CHARS)
      throw new BadRequestError(`the file is not valid CSV: a row is longer than ${MAX_ROW_CHARS} characters`)
    const comma = line.indexOf(',')
    cells.push(comma === -1 ? line : line.slice(0, comma))
  }
  return cells
}

/** What needs csv-parse's full rules: a quote, or a line break other than \n and \r\n. */
const NOT_PLAIN = /"|\r(?!\n)/

/**
 * First cells of every record, in batches. Plain lines (most files) are split directly: csv-parse
 * costs ~3.5 µs a row, several times the rest of an import. From the line holding the first quote
 * or bare \r on, csv-parse reads the rest; a test checks both give the same keys.
 */
async function* firstCells(text: AsyncIterable<string>): AsyncGenerator<string[]> {
  const chunks = text[Symbol.asyncIterator]()
  let carry = ''
  for (;;) {
    const next = await chunks.next()
    if (next.done === true) break
    const chunk = carry + next.value
    const special = NOT_PLAIN.exec(chunk)?.index ?? -1
    const end = special === -1 ? chunk.lastIndexOf('\n') : chunk.lastIndexOf('\n', special)
    if (end >= 0) yield plainFirstCells(chunk.slice(0, end))
    carry = chunk.slice(end + 1)
    if (special !== -1) {
      const rest = carry
      yield* parsedFirstCells(
        (async function* () {
          yield rest
          for (let more = await chunks.next(); more.done !== true; more = await chunks.next())
            yield more.value
        })()
      )
      return
    }
    if (carry.length > MAX_ROW_CHARS)
      throw new BadRequestError(`the file is not valid CSV: a row is longer than ${MAX_ROW_CHARS} characters`)
  }
  if (carry !== '') yield plainFirstCells(carry)
}

/**
 * The keys of a CSV byte stream, in file order (duplicates included: the store drops them), in
 * batches as the file's chunks arrive: the stores stage them a batch at a time.
 */
export async function* csvKeys(source: AsyncIterable<Buffer>): AsyncGenerator<string[]> {
  let row = 0
  let keys = 0
  for await (const cells of firstCells(utf8Text(source))) {
    if (row === 0 && cells.length > 0 && isHeaderCell(cells[0])) {
      cells.shift()
      row = 1
    }
    for (const key of cells) {
      row += 1
      if (key === '') throw new BadRequestError(`row ${row}: the first column holds no context key`)
      if (key.length > MAX_MEMBER_ID_LENGTH) {
        throw new BadRequestError(
          `row ${row}: the context key is longer than ${MAX_MEMBER_ID_LENGTH} characters`
        )
      }
    }
    keys += cells.length
    if (cells.length > 0) yield cells
  }
  if (keys === 0) throw new BadRequestError('the file holds no context keys')
}
