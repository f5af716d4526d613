/**
 * Typed errors carrying an HTTP status and a LaunchDarkly-style error code. The receiver's error
 * handler is the one place that turns them into responses.
 */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string
  ) {
    super(message)
    this.name = new.target.name
  }
}

export class BadRequestError extends HttpError {
  constructor(message: string, code = 'invalid_request') {
    super(400, code, message)
  }
}

export class ForbiddenError extends HttpError {
  constructor(message: string, code = 'forbidden') {
    super(403, code, message)
  }
}

export class NotFoundError extends HttpError {
  constructor(message: string, code = 'not_found') {
    super(404, code, message)
  }
}

export class ConflictError extends HttpError {
  constructor(message: string, code = 'conflict') {
    super(409, code, message)
  }
}

export class StoreUnavailableError extends HttpError {
  constructor(message: string) {
    super(503, 'service_unavailable', message)
  }
}
