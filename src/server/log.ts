/**
 * The server's log: levels as `--log-level` names them; info carries one line per request,
 * warn and error go to stderr.
 * @module
 */

/** A log level, as `--log-level` names it. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Log levels, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Where the server writes what it does. */
export interface Logger {
  /** Loading progress and /health polls. */
  debug(message: string): void;
  /** The startup summary and one line per request. */
  info(message: string): void;
  /** Signals and shutdown. */
  warn(message: string): void;
  /** A failed load. */
  error(message: string): void;
}

/** A logger that drops messages below `level`; `write` defaults to the console. */
export function createLogger(
  level: LogLevel,
  write: (level: LogLevel, line: string) => void = toConsole,
): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const at = (l: LogLevel) => (message: string) => {
    if (LOG_LEVELS.indexOf(l) >= min) write(l, message);
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

function toConsole(level: LogLevel, line: string): void {
  const text = `phasekv: ${line}`;
  if (level === "warn" || level === "error") console.error(text);
  else console.log(text);
}
