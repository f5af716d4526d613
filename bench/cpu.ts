/** CPU time of processes and of the whole machine, from /proc (Linux), for the bench's figures. */
import { readdirSync, readFileSync } from 'node:fs'

/**
 * CPU time a process has used so far, all its threads: the first field of each thread's
 * /proc/<pid>/task/<tid>/schedstat is its time on a CPU in nanoseconds (finer than /proc/<pid>/stat's
 * 10 ms ticks, which a short run would round to nothing).
 */
export function processCpuSeconds(pid: number): number {
  let nanoseconds = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanoseconds += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // The thread ended while we looked.
    }
  }
  return nanoseconds / 1e9
}

/** Busy CPU time of the whole machine so far (all cores; /proc/stat counts in 1/100 s). */
export function machineBusyCpuSeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/)
  // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
  const [user, nice, system, , , irq, softirq, steal] = ticks.map(Number)
  return (user + nice + system + irq + softirq + steal) / 100
}

/**
 * CPU time this process has used so far: getrusage counts every thread, including any that have
 * ended, which summing /proc/self/task would miss.
 */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}
