/**
 * On a shared machine another job can take a core for a while and halve a figure. Before each
 * measurement the bench waits, within a budget for the whole run, for a second in which the rest of
 * the machine uses less than QUIET_CORES; each run's "other load" records what it got anyway.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { machineBusyCpuSeconds } from './cpu'

const QUIET_CORES = 0.25

export interface QuietGate {
  /** Waits for a quiet second, or until the budget is spent; returns the seconds waited. */
  wait(): Promise<number>
  /** Seconds waited so far in this run. */
  waited(): number
}

export function quietGate(budgetSeconds: number, onWait: (busyCores: number) => void): QuietGate {
  let spent = 0
  return {
    async wait() {
      if (budgetSeconds <= 0) return 0
      const startedAt = performance.now()
      for (;;) {
        // Between measurements the bench's own processes are idle: what is busy is someone else.
        const before = machineBusyCpuSeconds()
        await sleep(1000)
        const busyCores = machineBusyCpuSeconds() - before
        const waited = (performance.now() - startedAt) / 1000
        if (busyCores < QUIET_CORES || spent + waited >= budgetSeconds) {
          spent += waited
          return waited
        }
        onWait(busyCores)
      }
    },
    waited: () => spent
  }
}
