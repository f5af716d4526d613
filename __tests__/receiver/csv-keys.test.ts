/**
 * The import file reader: its plain-line path must read every file exactly as csv-parse reads it,
 * wherever the upload's chunks happen to split it, and hostile bytes must be refused.
 */
import fc from 'fast-check'
import { parse } from 'csv-parse/sync'
import { BadRequestError } from '../../src/errors'
import { csvKeys, isHeaderCell } from '../../src/receiver/csv-keys'

async function* pieces(bytes: Buffer, cuts: number[]): AsyncGenerator<Buffer> {
  let at = 0
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut > at && cut < bytes.length) {
      yield bytes.subarray(at, cut)
      at = cut
    }
  }
  yield bytes.subarray(at)
}

async function read(text: string | Buffer, cuts: number[] = []): Promise<string[]> {
  const keys: string[] = []
  for await (const batch of csvKeys(pieces(Buffer.isBuffer(text) ? text : Buffer.from(text), cuts))) {
    expect(batch.length).toBeGreaterThan(0)
    keys.push(...batch)
  }
  return keys
}

/** What csv-parse alone makes of the file: first cells, header dropped, as csvKeys promises. */
function reference(text: string): string[] {
  const records = parse(text, {
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true
  }) as string[][]
  const cells = records.map((record) => record[0])
  return cells.length > 0 && isHeaderCell(cells[0]) ? cells.slice(1) : cells
}

describe('csvKeys', () => {
  it('reads plain files, with or without quotes anywhere, as csv-parse does, however the chunks fall', async () => {
    const cell = fc.stringMatching(/^[a-zA-Z0-9é€ _.@-]{1,12}$/)
    const tricky = fc.constantFrom('a', 'é', ' ', ',', '"', '\n', '\r', '\r\n')
    const quotedCell = fc.string({ unit: tricky, maxLength: 8 }).map((s) => `"${s.replace(/"/g, '""')}"`)
    const row = fc.tuple(
      fc.oneof(cell, cell, quotedCell),
      fc.array(fc.oneof(cell, quotedCell), { maxLength: 2 })
    )
    await fc.assert(
      fc.asyncProperty(
        fc.array(row, { minLength: 1, maxLength: 30 }),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        fc.array(fc.nat({ max: 400 }), { maxLength: 6 }),
        async (rows, eol, header, cuts) => {
          const lines = rows.map(([first, rest]) => [first, ...rest].join(','))
          const text = (header ? ['key', ...lines] : lines).join(eol) + eol
          const expected = reference(text)
          fc.pre(expected.length > 0 && expected.every((key) => key !== ''))
          expect(await read(text, cuts)).toEqual(expected)
        }
      ),
      { numRuns: 300 }
    )
  })

  it('drops a header row naming the column, and a byte order mark', async () => {
    expect(await read('\uFEFFContext Key,name\nuser-1,Ann\nuser-2,Bo\n')).toEqual(['user-1', 'user-2'])
    expect(await read('user_key\nkey\n')).toEqual(['key'])
    expect(await read('user-1\nuser-2')).toEqual(['user-1', 'user-2'])
  })

  it('keeps a UTF-8 character split between two chunks', async () => {
    const bytes = Buffer.from('key\ncafé-€\n')
    const euro = bytes.indexOf(Buffer.from('€'))
    expect(await read(bytes, [euro + 1, euro + 2])).toEqual(['café-€'])
  })

  it.each([
    ['bytes that are not UTF-8', Buffer.from([0x6b, 0x0a, 0x61, 0xc3, 0x28, 0x0a]), /not valid UTF-8/],
    ['a truncated UTF-8 character at the end', Buffer.from([0x61, 0x0a, 0xe2, 0x82]), /not valid UTF-8/],
    [
      'a key over 1,024 characters',
      `key\nok\n${'x'.repeat(1025)}\n`,
      /row 3: the context key is longer than 1024/
    ],
    ['an empty first cell', 'key\n,other\n', /row 2: the first column holds no context key/],
    ['an empty file', '', /no context keys/],
    ['blank lines only', '\n\r\n\n', /no context keys/],
    ['an unclosed quote', 'a\n"b,\nc\n', /not valid CSV/],
    ['a row over 64 KiB without a line break', 'y'.repeat(70_000), /longer than 65536/]
  ])('refuses %s', async (_what, file, message) => {
    const failure = read(file, [3])
    await expect(failure).rejects.toThrow(BadRequestError)
    await expect(failure).rejects.toThrow(message)
  })
})
