import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { SEGMENT_AUDIENCES_PATH } from '../../src/destination/constants'
import { mappingOverride, register, runReplay, type ReplayCommandOptions } from '../../src/cli/replay'
import { startRecorder } from './http-recorder'
import { BETA_TESTERS, identify, POWER_USERS, track } from './events'

function capture() {
  const stdout: string[] = []
  const stderr: string[] = []
  return {
    stdout,
    stderr,
    io: { stdout: { write: (t: string) => stdout.push(t) }, stderr: { write: (t: string) => stderr.push(t) } }
  }
}

describe('synced-segments replay', () => {
  let dir: string
  let file: string
  const lines = [
    JSON.stringify(identify('ada', POWER_USERS, true)),
    JSON.stringify(track('grace', BETA_TESTERS, true)),
    '{"type": "identify", "userId": ',
    JSON.stringify(identify('ada', POWER_USERS, 'false')),
    JSON.stringify(track('grace', POWER_USERS, false))
  ]

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'replay-cli-'))
    file = join(dir, 'events.ndjson')
    writeFileSync(file, `${lines.join('\n')}\n`)
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('--dry-run prints each request (method, URL, body) and the summary, sending nothing', async () => {
    const { stdout, stderr, io } = capture()
    const options: ReplayCommandOptions = { batchSize: 2, dryRun: true, baseUrl: 'http://ld.example.test:9999', clientId: 'env-1' }
    const code = await runReplay(file, options, io)
    const out = stdout.join('')

    expect(code).toBe(0)
    const printed = out.match(/^POST \S+$/gm) ?? []
    // Two batches of events (2 + 2 valid lines): one request each.
    expect(printed).toEqual([
      `POST http://ld.example.test:9999${SEGMENT_AUDIENCES_PATH}`,
      `POST http://ld.example.test:9999${SEGMENT_AUDIENCES_PATH}`
    ])
    expect(out).toContain('"environmentId": "env-1"')
    expect(out).toContain('"userId": "grace"')
    expect(out).toMatch(/4 events read in 2 batches, 1 malformed line skipped/)
    expect(out).toMatch(/line 3: invalid JSON/)
    expect(out).toMatch(/3 events would be delivered, 1 event not/)
    expect(out).toMatch(/2 requests built \(dry run: nothing sent\)/)
    expect(out).toMatch(/1 × 400 .*"false" \(string\)/)
    // Not a terminal: plain progress lines on stderr, ending at the full count.
    expect(stderr[stderr.length - 1]).toBe('replay: 5/5 lines, 2 batches, 2 requests\n')
  })

  it('sends to --base-url with the token and client-side ID, exiting 0 when every request succeeds', async () => {
    const recorder = await startRecorder()
    try {
      const { stdout, io } = capture()
      const code = await runReplay(file, { batchSize: 100, baseUrl: recorder.url, apiKey: 'tok-123', clientId: 'env-2' }, io)
      expect(code).toBe(0)
      expect(recorder.received).toHaveLength(1)
      expect(recorder.received[0].headers.authorization).toBe('tok-123')
      expect((recorder.received[0].body as { environmentId: string }).environmentId).toBe('env-2')
      expect(stdout.join('')).toMatch(/1 request sent — statuses: 204 ×1/)
      expect(stdout.join('')).toMatch(/segments touched:\n {2}Power users \(aud_power, user\): \+1 −1/)
    } finally {
      await recorder.close()
    }
  })

  it('exits 1 when the receiver refuses a request', async () => {
    const recorder = await startRecorder(() => ({ status: 403, body: { code: 'forbidden', message: 'token may not write' } }))
    try {
      const { stdout, io } = capture()
      expect(await runReplay(file, { batchSize: 100, baseUrl: recorder.url, apiKey: 'tok', clientId: 'env' }, io)).toBe(1)
      expect(stdout.join('')).toMatch(/statuses: 403 ×1/)
      expect(stdout.join('')).toMatch(/403 .*token may not write/)
    } finally {
      await recorder.close()
    }
  })

  it('refuses to run without credentials (unless a dry run) or without the file', async () => {
    const missingCredentials = capture()
    expect(await runReplay(file, { batchSize: 10, baseUrl: 'http://127.0.0.1:1' }, missingCredentials.io)).toBe(2)
    expect(missingCredentials.stderr.join('')).toMatch(/--api-key and --client-id are required/)
    const missingFile = capture()
    expect(await runReplay(join(dir, 'nope.ndjson'), { batchSize: 10, dryRun: true }, missingFile.io)).toBe(2)
    expect(missingFile.stderr.join('')).toMatch(/no such file/)
  })

  it('--context-kind wins over a --mapping file laid over the preset', () => {
    const mappingFile = join(dir, 'mapping.json')
    writeFileSync(mappingFile, JSON.stringify({ context_kind: 'device', context_key: 'user_id_then_anonymousId' }))
    expect(mappingOverride({ mapping: mappingFile })).toEqual({ context_kind: 'device', context_key: 'user_id_then_anonymousId' })
    expect(mappingOverride({ mapping: mappingFile, contextKind: 'organization' })).toEqual({
      context_kind: 'organization',
      context_key: 'user_id_then_anonymousId'
    })
    writeFileSync(mappingFile, '[1]')
    expect(() => mappingOverride({ mapping: mappingFile })).toThrow(/must be a JSON object/)
  })

  it('registers the command with its options', () => {
    // Set before register so the subcommand inherits them: throw instead of exiting, stay quiet.
    const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined })
    register(program)
    const command = program.commands.find((c) => c.name() === 'replay')
    expect(command?.options.map((o) => o.long)).toEqual(
      expect.arrayContaining(['--base-url', '--api-key', '--client-id', '--batch-size', '--dry-run', '--context-kind', '--mapping'])
    )
    expect(() => program.parse(['node', 'x', 'replay', file, '--batch-size', '0'], { from: 'node' })).toThrow(/positive integer/)
  })
})
