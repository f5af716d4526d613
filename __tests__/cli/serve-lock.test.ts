/**
 * `serve` on a SQLite data directory holds a lock naming its pid: a second `serve` there refuses to
 * start and names the first; the lock goes on a clean exit, and a lock left by a SIGKILLed process
 * does not block the next start, which also removes the import staging files the dead one left. Beyond loopback, the development token earns a warning.
 */
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { LOCK_FILE } from '../../src/receiver/data-lock'
import { startServe } from '../helpers/serve-process'
import { tempDir } from '../receiver/app-helpers'

const run = promisify(execFile)
const ROOT = join(__dirname, '..', '..')

jest.setTimeout(180_000)

let dir: string
beforeAll(() => (dir = tempDir('serve-lock-')))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

it('refuses a second serve on one data directory, naming the first; takes over a lock left by SIGKILL', async () => {
  const dataDir = join(dir, 'data')
  const lock = join(dataDir, LOCK_FILE)
  const first = await startServe(['--data', dataDir, '--host', '0.0.0.0'])
  try {
    expect(first.stdout()).toMatch(
      /warning {7}listening on 0\.0\.0\.0, beyond this machine, with the development token/
    )
    expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: first.child.pid })

    const second = run(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        join(ROOT, 'src', 'cli', 'main.ts'),
        'serve',
        '--port',
        '0',
        '--data',
        dataDir
      ],
      {
        cwd: ROOT,
        env: { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') }
      }
    )
    await expect(second).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining(
        `${dataDir} is in use by another receiver (pid ${first.child.pid}, lock ${lock})`
      )
    })
  } finally {
    first.child.kill('SIGKILL')
  }
  await first.exited
  expect(existsSync(lock)).toBe(true)
  // What an import killed while staging leaves beside the database, and a file of the user's.
  const leftover = join(dataDir, 'segments.db-import-0b1c2d3e')
  writeFileSync(leftover, 'staged keys of a dead process')
  writeFileSync(join(dataDir, 'notes.txt'), 'mine')

  const third = await startServe(['--data', dataDir])
  expect(existsSync(leftover)).toBe(false)
  expect(readFileSync(join(dataDir, 'notes.txt'), 'utf8')).toBe('mine')
  expect(third.stdout()).not.toMatch(/warning/)
  expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ pid: third.child.pid })
  expect((await third.stop()).code).toBe(0)
  expect(existsSync(lock)).toBe(false)
})
