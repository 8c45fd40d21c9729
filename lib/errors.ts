// Typed errors: every failure a user can cause has a class and a message that says what
// was wrong and what to do. `code` is stable (for programs); the message is for people.

export class PagedInferError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A model file or directory is missing, corrupt, truncated or of an unsupported kind. */
export class ModelLoadError extends PagedInferError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('model_load_error', message, options);
  }
}

/** The model's architecture (config.json `model_type` / GGUF `general.architecture`) is not supported. */
export class UnsupportedArchitectureError extends PagedInferError {
  constructor(message: string) {
    super('unsupported_architecture', message);
  }
}

/** A request is invalid: bad sampling parameters, a prompt longer than the context, empty input. */
export class InvalidRequestError extends PagedInferError {
  readonly param: string | undefined;
  constructor(message: string, param?: string) {
    super('invalid_request', message);
    this.param = param;
  }
}

/** The engine cannot take the request now or ever with its memory (KV cache too small, out of memory). */
export class CapacityError extends PagedInferError {
  constructor(message: string) {
    super('capacity_error', message);
  }
}

/** The native addon is missing, broken, or failed in a way that is not the caller's fault. */
export class NativeError extends PagedInferError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('native_error', message, options);
  }
}

/** The request was aborted through its AbortSignal or because the engine shut down. */
export class AbortError extends PagedInferError {
  constructor(message = 'the request was aborted') {
    super('aborted', message);
  }
}
