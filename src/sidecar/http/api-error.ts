// OpenAI-style error answers: every failure the HTTP endpoint reports is an ApiError, rendered as
// {error: {message, type, param, code}} with its HTTP status, so OpenAI client libraries surface
// our message (they read error.message) instead of a generic "bad response".

/** The `type` values OpenAI uses; clients branch on them (e.g. retry on rate limits). */
export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error';

export interface ApiErrorBody {
  error: {
    message: string;
    type: ApiErrorType;
    /** The request field at fault (dotted path, e.g. "messages.0.role"), or null. */
    param: string | null;
    code: string | null;
  };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: ApiErrorType,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toBody(): ApiErrorBody {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
    };
  }
}

/** 400 naming the field: the most common answer to a malformed request. */
export function invalidParam(param: string, message: string, code = 'invalid_value'): ApiError {
  return new ApiError(400, 'invalid_request_error', `${param}: ${message}`, param, code);
}
