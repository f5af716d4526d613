/**
 * The command as a user meets it when something is wrong (SPEC §D2): every error names the file,
 * URL or address and the cause; input that is not NDJSON and replays that deliver nothing exit
 * non-zero with a hint; a reader that closes the pipe early ends the command quietly.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { InvalidArgumentError } from 'commander'
import { mappingOverride, runReplay, type ReplayCommandOptions } from '../../src/cli/replay'
import { parseBaseUrl } from '../../src/cli/options'
import { describeJsonError } from '../../src/json-error'
import { loadConfigFile } from '../../src/receiver/config'
import { openRedisStore } from '../../src/store/redis'
import { identify, POWER_USERS } from '../replay/events'
import { tempDir } from '../receiver/app-helpers'

const run = promisify(execFile)
const ROOT = join(__dirname, '..', '..')
const CLI = ['-r', 'ts-node/register/transpile-only', join(ROOT, 'src', 'cli', 'main.ts')]
const ENV = { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') }

jest.setTimeout(60_000)

let dir: string
beforeAll(() => (dir = tempDir('cli-errors-')))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name)
  writeFileSync(path, content)
  return path
}

async function replay(path: string, options: Partial<ReplayCommandOptions> = {}) {
  const stdout: string[] = []
  const stderr: string[] = []
  const write = (to: string[]) => ({ write: (t: string) => to.push(t) })
  const status = await runReplay(
    path,
    { batchSize: 10, dryRun: true, ...options },
    { stdout: write(stdout), stderr: write(stderr) }
  )
  return { status, stdout: stdout.join(''), stderr: stderr.join('') }
}

/** A port that nothing listens on: bound, noted, released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('replay input that is not NDJSON', () => {
  it('refuses a directory, binary data, a JSON array and pretty-printed JSON, naming the file', async () => {
    const sub = join(dir, 'a-directory')
    mkdirSync(sub)
    const cases: Array<[string, RegExp]> = [
      [sub, /a-directory is a directory/],
      [
        file('events.bin', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02])),
        /events\.bin looks like binary data/
      ],
      [
        file('array.json', JSON.stringify([identify('ada', POWER_USERS, true)])),
        /array\.json starts with "\[": a JSON array\?.*jq -c/
      ],
      [
        file('pretty.json', JSON.stringify(identify('ada', POWER_USERS, true), null, 2)),
        /pretty\.json starts with a lone "\{"/
      ]
    ]
    for (const [path, message] of cases) {
      const result = await replay(path)
      expect(result.status).toBe(2)
      expect(result.stderr).toMatch(message)
    }
  })

  it('exits 1 with a hint when no line is a JSON object (a CSV)', async () => {
    const result = await replay(file('audience.csv', 'user_id,email\nada,ada@example.com\n'))
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(
      /nothing would be delivered: no line of .*audience\.csv is a JSON object.*NDJSON/
    )
  })

  it('exits 1 when every event is rejected, pointing at the mapping', async () => {
    const events = file('events.ndjson', `${JSON.stringify(identify('ada', POWER_USERS, true))}\n`)
    const result = await replay(events, { contextKind: 'not a kind!' })
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/none of the 1 events was accepted.*--mapping/)
    expect((await replay(events)).status).toBe(0)
  })
})

describe('--mapping', () => {
  it('names the file and the line and column of a JSON mistake', () => {
    const path = file('mapping.json', '{\n  "context_kind": "user",\n}\n')
    expect(() => mappingOverride({ mapping: path })).toThrow(
      `--mapping ${path}: not valid JSON: line 3, column 1:`
    )
  })

  it('rejects field keys the action does not have, listing the ones it has', () => {
    const path = file('typo.json', JSON.stringify({ contextkind: 'organization' }))
    expect(() => mappingOverride({ mapping: path })).toThrow(
      /unknown field contextkind \(the fields are .*context_kind/
    )
    expect(
      mappingOverride({ mapping: file('ok.json', JSON.stringify({ context_kind: 'organization' })) })
    ).toEqual({
      context_kind: 'organization'
    })
  })

  it('names a file that cannot be read', () => {
    expect(() => mappingOverride({ mapping: join(dir, 'missing.json') })).toThrow(
      /--mapping .*missing\.json: cannot read it: ENOENT/
    )
  })
})

describe('addresses and causes', () => {
  it('--base-url needs http(s)://', () => {
    expect(() => parseBaseUrl('127.0.0.1:8787')).toThrow(InvalidArgumentError)
    expect(() => parseBaseUrl('127.0.0.1:8787')).toThrow(
      'needs an http:// or https:// URL, e.g. http://127.0.0.1:8787'
    )
    expect(() => parseBaseUrl('ftp://example.com')).toThrow(/http:\/\//)
    expect(parseBaseUrl('https://example.com/base')).toBe('https://example.com/base')
  })

  it('`segments list` against a stopped receiver names the URL and "connection refused"', async () => {
    const port = await closedPort()
    const failed = run(
      process.execPath,
      [...CLI, 'segments', 'list', '--api-key', 'tok', '--base-url', `http://127.0.0.1:${port}`],
      {
        env: ENV
      }
    )
    await expect(failed).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        new RegExp(`GET http://127\\.0\\.0\\.1:${port}/api/v2/segments/\\S+: connection refused`)
      )
    })
  })

  it('an unreachable Redis names the address and the cause, not ioredis\'s "Connection is closed."', async () => {
    const port = await closedPort()
    const opening = openRedisStore({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 1000 })
    await expect(opening).rejects.toThrow(`Redis store unavailable (127.0.0.1:${port}): connection refused`)
  })

  it('a configuration file with a JSON mistake gives its line and column', () => {
    const path = file(
      'receiver.json',
      '{\n  "projects": [\n    { "key": "default" }\n  ]\n  "tokens": []\n}\n'
    )
    expect(() => loadConfigFile(path)).toThrow(`${path}: not valid JSON: line 5, column 3:`)
  })

  it('turns a JSON.parse offset into a line and column, and the end of input into the last position', () => {
    const text = '{\n  "a": 1,\n  "b": \n'
    let error: unknown
    try {
      JSON.parse(text)
    } catch (e) {
      error = e
    }
    expect(describeJsonError(text, error)).toMatch(/^line 4, column 1: /)
    expect(describeJsonError('x', new Error('no position here'))).toBe('no position here')
  })
})

describe('a reader that closes the pipe early', () => {
  it.each([['integrations list'], ['replay fixtures/engage/demo.ndjson --dry-run']])(
    '`%s | head -1` ends quietly',
    async (args) => {
      const command = `node ${CLI.join(' ')} ${args} 2>"${join(dir, 'pipe.err')}" | head -1; echo "status=\${PIPESTATUS[0]}"`
      const { stdout } = await run('bash', ['-c', command], { cwd: ROOT, env: ENV })
      const [first, status] = stdout.trim().split('\n')
      expect(first).toMatch(/^(KEY|POST) /)
      expect(status).toBe('status=0')
      const { stdout: errors } = await run('cat', [join(dir, 'pipe.err')])
      expect(errors).not.toMatch(/EPIPE|Error|\n\s+at /)
    }
  )
})
