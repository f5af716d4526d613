/** The 409s every store raises the same way, so both answer a collision in the same words. */
import { ConflictError } from '../errors'

/** §B4: a segment key already taken by another cohort. */
export function cohortConflict(
  segmentKey: string,
  existingCohortId: string,
  cohortId: string
): ConflictError {
  return new ConflictError(
    `Segment ${segmentKey} was created for cohort ID ${JSON.stringify(existingCohortId)}; cohort ID ${JSON.stringify(cohortId)} maps to the same key and is refused`,
    'segment_key_conflict'
  )
}
