/**
 * Named errors for a checkpoint that cannot be loaded. Each message names the file and the
 * tensor or field at fault, and says what would fix it.
 * @module
 */

/** Base class of every error raised while loading a checkpoint, tokenizer or chat template. */
export class CheckpointError extends Error {
  /** The file at fault. */
  readonly path: string;

  /** Wraps `message` with the file it is about. */
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(`${path}: ${message}`, options);
    this.name = new.target.name;
    this.path = path;
  }
}

/** A safetensors file is truncated, or its header is not the JSON the format requires. */
export class SafetensorsFormatError extends CheckpointError {}

/** A safetensors header's data_offsets overlap, leave gaps, run past the file or miss the size. */
export class SafetensorsOffsetError extends CheckpointError {}

/** A tensor the architecture needs is in no file of the checkpoint. */
export class MissingTensorError extends CheckpointError {
  /** The Hugging Face name of the missing tensor. */
  readonly tensor: string;

  /** Reports `tensor` missing from the checkpoint at `path`. */
  constructor(path: string, tensor: string, hint: string) {
    super(path, `tensor ${tensor} is missing; ${hint}`);
    this.tensor = tensor;
  }
}

/** A tensor's shape disagrees with the one config.json implies. */
export class TensorShapeError extends CheckpointError {}

/** A tensor is stored in a dtype the loader does not read (only F32, F16, BF16 are). */
export class UnsupportedDtypeError extends CheckpointError {}

/** config.json names a model architecture the registry has no entry for. */
export class UnsupportedArchitectureError extends CheckpointError {}

/** A config.json (or tokenizer_config.json) field is missing, mistyped or has a value not supported. */
export class ConfigFieldError extends CheckpointError {
  /** The JSON path of the field, e.g. `num_key_value_heads`. */
  readonly field: string;

  /** Reports a problem with `field` of the file at `path`. */
  constructor(path: string, field: string, message: string) {
    super(path, `field "${field}" ${message}`);
    this.field = field;
  }
}

/** The tokenizer files are missing, unreadable or disagree with the model. */
export class TokenizerError extends CheckpointError {}

/** The chat template is absent or fails to render. */
export class ChatTemplateError extends CheckpointError {}
