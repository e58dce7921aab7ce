// The logging surface pure modules depend on. The extension passes the "LocalMoE" LogOutputChannel
// (which satisfies this shape); unit tests pass a recording logger. Keeping it an interface is what
// lets completion, chat and supervisor logic run under plain mocha without `vscode`.
export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  trace(message: string): void;
}

/** A logger that remembers lines; for tests and for code that logs before the channel exists. */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  error(message: string): void {
    this.lines.push(`error ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn ${message}`);
  }
  info(message: string): void {
    this.lines.push(`info ${message}`);
  }
  debug(message: string): void {
    this.lines.push(`debug ${message}`);
  }
  trace(message: string): void {
    this.lines.push(`trace ${message}`);
  }
}
