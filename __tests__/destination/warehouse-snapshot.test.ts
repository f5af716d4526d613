/**
 * Snapshots of exactly what syncWarehouseAudience puts on the wire (body and headers) for a mirror
 * sync and a delete sync. Review the .snap file on every change: it is the contract with the receiver.
 */
import { Destination, type SegmentEvent } from '@segment/actions-core'
import definition from '../../src/destination'
import { recordSegmentAudiences, useNock } from './nock'
import { rowEvent, warehouseSettings } from './warehouse-helpers'

const destination = new Destination(definition)

useNock()

/** One sync's rows: new, updated and deleted, a repeated key, an empty key, two context kinds. */
const rows: SegmentEvent[] = [
  rowEvent('new', { context_key: 'user-1' }, 'r1'),
  rowEvent('updated', { context_key: 'user-2', plan: 'pro' }, 'r2'),
  rowEvent('deleted', { context_key: 'user-3' }, 'r3'),
  rowEvent(
    'new',
    {
      context_key: 'org-1',
      context_kind: 'organization',
      cohort_id: 'enterprise',
      cohort_name: 'Enterprise accounts'
    },
    'r4'
  ),
  rowEvent('new', { context_key: '' }, 'r5'),
  rowEvent('deleted', { context_key: 'user-1' }, 'r6'),
  rowEvent(
    'deleted',
    {
      context_key: 'org-2',
      context_kind: 'organization',
      cohort_id: 'enterprise',
      cohort_name: 'Enterprise accounts'
    },
    'r7'
  )
]

describe('outgoing requests of syncWarehouseAudience', () => {
  it('a mirror batch: adds new and updated rows, removes deleted ones, the last row of a key wins', async () => {
    const captured = recordSegmentAudiences()
    const [result] = await destination.onBatch(rows, warehouseSettings('mirror'))
    expect(captured).toMatchSnapshot()
    expect(result.multistatus?.map((entry) => entry.status)).toEqual([204, 204, 204, 204, 400, 204, 204])
  })

  it('a delete batch: only deleted rows are sent, as removals', async () => {
    const captured = recordSegmentAudiences()
    const [result] = await destination.onBatch(rows, warehouseSettings('delete'))
    expect(captured).toMatchSnapshot()
    expect(result.multistatus?.map((entry) => entry.status)).toEqual([400, 400, 204, 400, 400, 204, 204])
  })
})
