// Sidecar logging: stderr only (stdout carries JSON-RPC). The extension forwards stderr to the
// "LocalMoE" output channel, so lines are plain text with a level and a timestamp.
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

export function createStderrLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  const log = (at: LogLevel, message: string) => {
    if (ORDER[at] <= ORDER[level]) write(`${new Date().toISOString()} [${at}] ${message}\n`);
  };
  return {
    error: (m) => log('error', m),
    warn: (m) => log('warn', m),
    info: (m) => log('info', m),
    debug: (m) => log('debug', m),
  };
}

export function parseLogLevel(value: string | undefined): LogLevel {
  return value === 'error' || value === 'warn' || value === 'debug' ? value : 'info';
}
