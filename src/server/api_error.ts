/**
 * The one error type the HTTP layer answers with: an HTTP status plus OpenAI's error body
 * (`{"error": {"message", "type", "param", "code"}}`), so clients written for OpenAI or vLLM
 * read phasekv's errors unchanged.
 * @module
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The `type` of an OpenAI error body. */
export type ApiErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "server_error"
  | "unavailable_error";

/** OpenAI's error response body. */
export interface ErrorBody {
  error: { message: string; type: ApiErrorType; param: string | null; code: string | null };
}

/** What an ApiError carries beside its status and message. */
export interface ApiErrorOptions {
  type?: ApiErrorType;
  /** The request field at fault (`messages[0].content`), or null. */
  param?: string | null;
  code?: string | null;
  headers?: Record<string, string>;
}

/** An error with the HTTP status and OpenAI error body the client gets. */
export class ApiError extends Error {
  /** HTTP status of the response. */
  readonly status: ContentfulStatusCode;
  /** OpenAI error fields and extra response headers. */
  readonly options: ApiErrorOptions;

  /** Creates the error; `type` defaults from the status. */
  constructor(status: ContentfulStatusCode, message: string, options: ApiErrorOptions = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.options = options;
  }

  /** The JSON body of the response. */
  toBody(): ErrorBody {
    return {
      error: {
        message: this.message,
        type: this.options.type ?? defaultType(this.status),
        param: this.options.param ?? null,
        code: this.options.code ?? null,
      },
    };
  }
}

/** A 400 naming the request field at fault. */
export function invalidRequest(message: string, param: string | null, code?: string): ApiError {
  return new ApiError(400, message, { param, code: code ?? null });
}

function defaultType(status: number): ApiErrorType {
  if (status === 401) return "authentication_error";
  if (status === 503) return "unavailable_error";
  return status >= 500 ? "server_error" : "invalid_request_error";
}
