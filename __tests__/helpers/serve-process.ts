/**
 * Runs a real `synced-segments serve` process for tests (serve-process and redis-multi-instance):
 * the TypeScript entry through ts-node (no build needed), `--port 0`, resolved once the start-up
 * summary is printed. `stop()` sends SIGTERM and waits for the exit (SIGKILL after a grace period).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { join } from 'node:path'

const ROOT = join(__dirname, '..', '..')
const MAIN = join(ROOT, 'src', 'cli', 'main.ts')

export interface ServeProcess {
  child: ChildProcessWithoutNullStreams
  /** `http://127.0.0.1:<port>` */
  url: string
  stdout: () => string
  stderr: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGTERM, then the exit; SIGKILL when it has not exited within 10 s. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export function startServe(args: string[], startTimeoutMs = 60_000): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', MAIN, 'serve', '--port', '0', ...args],
    {
      cwd: ROOT,
      env: { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') }
    }
  )
  let stdout = ''
  let stderr = ''
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal }))
  )
  const stop = async (): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    try {
      return await exited
    } finally {
      clearTimeout(timer)
    }
  }
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`serve did not start in time:\n${stdout}\n${stderr}`))
    }, startTimeoutMs)
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      // The summary is written in one go; wait for its token line.
      const match = /listening on (http:\/\/\S+)[\s\S]*\n {2}(token|tokens) .*\n/.exec(stdout)
      if (match) {
        clearTimeout(timer)
        resolve({ child, url: match[1], stdout: () => stdout, stderr: () => stderr, exited, stop })
      }
    })
    void exited.then(({ code }) => {
      clearTimeout(timer)
      reject(new Error(`serve exited with ${code} before listening:\n${stdout}\n${stderr}`))
    })
  })
}
