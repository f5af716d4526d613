import { mapWithConcurrency } from '../../src/destination/syncAudience/pool'

describe('mapWithConcurrency', () => {
  it('never runs more than the limit at once and keeps the input order', async () => {
    let inFlight = 0
    let peak = 0
    // Later items finish first, so an order bug would show.
    const delays = [30, 5, 20, 1, 15, 2, 10, 3, 8, 4]
    const results = await mapWithConcurrency(delays, 4, async (delay, index) => {
      inFlight++
      peak = Math.max(peak, inFlight)
      await new Promise((resolve) => setTimeout(resolve, delay))
      inFlight--
      return `${index}:${delay}`
    })
    expect(peak).toBe(4)
    expect(results).toEqual(delays.map((delay, index) => `${index}:${delay}`))
  })

  it('starts the next task as soon as one finishes rather than waiting for a whole chunk', async () => {
    const started: number[] = []
    const releases: Array<() => void> = []
    const run = mapWithConcurrency([0, 1, 2], 2, (item) => {
      started.push(item)
      return new Promise<number>((resolve) => releases.push(() => resolve(item)))
    })
    await Promise.resolve()
    expect(started).toEqual([0, 1])
    releases[1]()
    await new Promise((resolve) => setImmediate(resolve))
    expect(started).toEqual([0, 1, 2])
    releases[0]()
    releases[2]()
    expect(await run).toEqual([0, 1, 2])
  })

  it('handles no items and rejects a bad limit', async () => {
    expect(await mapWithConcurrency([], 4, async () => 1)).toEqual([])
    await expect(mapWithConcurrency([1], 0, async () => 1)).rejects.toThrow(RangeError)
  })
})
