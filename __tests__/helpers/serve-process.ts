/**
 * Runs a real `synced-segments serve` process for tests (serve-process, redis-multi-instance, history-kill):
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

export interface KillUnderLoad {
  /** Request numbers sent, and those answered 204 before the process died. */
  sent: Set<number>
  acknowledged: Set<number>
  /** Answers other than 204 (there should be none). */
  failures: string[]
  /** Requests sent and not yet answered when SIGKILL went out. */
  inFlightAtKill: number
  signal: NodeJS.Signals | null
}

/**
 * `workers` writers POST request n's body (`bodyOf(n)`) to segment-targets/segment-audiences, each
 * sending its next one as soon as the last is answered; once `acknowledgedBeforeKill` are answered
 * 204 the process gets SIGKILL. Requests whose connection dies with it count as neither outcome.
 */
export async function sigkillUnderLoad(
  serve: ServeProcess,
  options: {
    token: string
    bodyOf: (n: number) => string
    workers: number
    acknowledgedBeforeKill: number
    timeoutMs?: number
  }
): Promise<KillUnderLoad> {
  const sent = new Set<number>()
  const acknowledged = new Set<number>()
  const failures: string[] = []
  let next = 0
  let killed = false
  const worker = async (): Promise<void> => {
    while (!killed) {
      const n = next++
      sent.add(n)
      try {
        const response = await fetch(`${serve.url}/api/v2/segment-targets/segment-audiences`, {
          method: 'POST',
          headers: { authorization: options.token, 'content-type': 'application/json' },
          body: options.bodyOf(n)
        })
        if (response.status === 204) acknowledged.add(n)
        else failures.push(`${n}: ${response.status} ${await response.text()}`)
      } catch {
        // No answer (the process died): not acknowledged, so either outcome is allowed.
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    }
  }
  const workers = Array.from({ length: options.workers }, worker)
  const deadline = Date.now() + (options.timeoutMs ?? 90_000)
  while (acknowledged.size < options.acknowledgedBeforeKill && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  // Requests are in flight at the kill (each worker sends its next one as soon as it is answered);
  // their answers may still be on the wire, so whether any goes unacknowledged is up to timing.
  const inFlightAtKill = sent.size - acknowledged.size
  serve.child.kill('SIGKILL')
  killed = true
  const { signal } = await serve.exited
  await Promise.all(workers)
  if (acknowledged.size < options.acknowledgedBeforeKill) {
    throw new Error(
      `only ${acknowledged.size} of ${options.acknowledgedBeforeKill} requests acknowledged in time`
    )
  }
  return { sent, acknowledged, failures, inFlightAtKill, signal }
}
