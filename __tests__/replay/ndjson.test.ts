import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { countNdjsonLines, parseNdjsonLine, readNdjson, readNdjsonFile, type EventRecord } from '../../src/cli/ndjson'

async function collect(source: AsyncIterable<EventRecord>): Promise<EventRecord[]> {
  const records: EventRecord[] = []
  for await (const record of source) records.push(record)
  return records
}

describe('NDJSON reader', () => {
  it('yields each event with its line number and reports malformed lines without stopping', async () => {
    const text = [
      '{"type":"identify","userId":"a"}',
      '{"type":"track","userId":"b"', // cut short
      '',
      '[1,2]',
      'null',
      '{"type":"track","userId":"c"}'
    ].join('\n')
    const records = await collect(readNdjson(Readable.from([text])))
    expect(records.map((r) => r.line)).toEqual([1, 2, 4, 5, 6])
    expect(records[0]).toEqual({ line: 1, event: { type: 'identify', userId: 'a' } })
    expect(records[1]).toEqual({ line: 2, error: expect.stringMatching(/^invalid JSON/) })
    expect(records[2]).toEqual({ line: 4, error: 'expected a JSON object, got array' })
    expect(records[3]).toEqual({ line: 5, error: 'expected a JSON object, got null' })
    expect(records[4]).toEqual({ line: 6, event: { type: 'track', userId: 'c' } })
  })

  it('joins lines split across chunks and accepts CRLF endings', async () => {
    const chunks = ['{"type":"iden', 'tify","userId":"a"}\r\n{"type":"track",', '"userId":"b"}\r\n']
    const records = await collect(readNdjson(chunks))
    expect(records).toEqual([
      { line: 1, event: { type: 'identify', userId: 'a' } },
      { line: 2, event: { type: 'track', userId: 'b' } }
    ])
  })

  it('counts blank lines in the numbering but never yields them', () => {
    expect(parseNdjsonLine('   ', 3)).toBeUndefined()
    expect(parseNdjsonLine('42', 9)).toEqual({ line: 9, error: 'expected a JSON object, got number' })
  })

  it('reads a file and counts its non-blank lines for the progress total', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ndjson-test-'))
    try {
      const file = join(dir, 'events.ndjson')
      const lines = Array.from({ length: 2500 }, (_, i) => JSON.stringify({ type: 'track', userId: `u${i}` }))
      writeFileSync(file, `${lines.join('\n')}\n\n`)
      const records = await collect(readNdjsonFile(file))
      expect(records).toHaveLength(2500)
      expect(records[2499]).toEqual({ line: 2500, event: { type: 'track', userId: 'u2499' } })
      expect(await countNdjsonLines(file)).toBe(2500)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
