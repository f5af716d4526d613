/**
 * The receiver as users run it: `synced-segments serve` in a process of its own, so its peak RSS
 * can be read from /proc and the load generator does not eat into its event loop. Listens on
 * 127.0.0.1 only, on a port the OS picks.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CodeUnderTest } from './code'
import { processCpuSeconds } from './cpu'

export const BENCH_TOKEN = 'api-bench-token'
export const BENCH_CLIENT_ID = 'bench-client-id'
export const BENCH_PROJECT = 'bench'
export const BENCH_ENVIRONMENT = 'production'

/**
 * A §B6 configuration with one environment and one all-powerful token, written into `dir`; with
 * `visibility` false, the sync history and the metrics are off (§F's cost is measured against it).
 */
export function writeBenchConfig(dir: string, visibility = true): string {
  const file = join(dir, 'receiver.json')
  const config = {
    projects: [
      { key: BENCH_PROJECT, environments: [{ key: BENCH_ENVIRONMENT, clientSideId: BENCH_CLIENT_ID }] }
    ],
    tokens: [{ name: 'bench', token: BENCH_TOKEN, actions: '*', environments: '*' }],
    ...(visibility ? {} : { history: { enabled: false }, metrics: { enabled: false } })
  }
  writeFileSync(file, JSON.stringify(config))
  return file
}

export interface ReceiverProcess {
  /** `http://127.0.0.1:<port>` */
  url: string
  pid: number
  /** Peak resident set size since start (or the last `resetPeakRss`), from VmHWM. */
  peakRssBytes(): number
  rssBytes(): number
  /** CPU time (user + system) the receiver has used so far. */
  cpuSeconds(): number
  /** Starts a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM). */
  resetPeakRss(): void
  /** SIGTERM (graceful: in-flight requests finish, the store closes, a CPU profile is written), then SIGKILL after 15 s. */
  stop(): Promise<void>
}

export interface ReceiverProcessOptions {
  store: string
  dataDir: string
  configFile: string
  /** Write a V8 CPU profile of the receiver into this directory (node --cpu-prof). */
  cpuProfDir?: string
}

function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`)
  return Number(match[1])
}

export async function startReceiverProcess(
  code: CodeUnderTest,
  options: ReceiverProcessOptions
): Promise<ReceiverProcess> {
  const profile = options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : []
  const args = [
    ...profile,
    ...code.cliArgs,
    'serve',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--data',
    options.dataDir,
    '--store',
    options.store,
    '--config',
    options.configFile
  ]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('the receiver did not start within 30 s')), 30_000)
    const onExit = (code: number | null, signal: string | null): void =>
      fail(new Error(`the receiver exited (code ${code}, signal ${signal})`))
    function fail(error: Error): void {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(new Error(`${error.message}\n${output}`))
    }
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const match = /listening on (http:\/\/\S+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        child.off('exit', onExit)
        resolve(match[1])
      }
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.once('error', fail)
    child.once('exit', onExit)
  })
  const pid = child.pid as number
  return {
    url,
    pid,
    peakRssBytes: () => statusKb(pid, 'VmHWM') * 1024,
    rssBytes: () => statusKb(pid, 'VmRSS') * 1024,
    cpuSeconds: () => processCpuSeconds(pid),
    resetPeakRss: () => writeFileSync(`/proc/${pid}/clear_refs`, '5'),
    stop: () => stopProcess(child, exited)
  }
}

async function stopProcess(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}
