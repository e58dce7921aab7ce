// Sidecar stderr lines → log entries. The sidecar writes "<ISO time> [level] message"; the Output
// channel stamps its own time, so the level is kept and the duplicate timestamp dropped. Anything
// else (a native crash message, a Node warning) is passed through as an error or info line.
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface SidecarLogLine {
  level: LogLevel;
  message: string;
}

const LINE = /^\d{4}-\d\d-\d\dT[\d:.]+Z \[(error|warn|info|debug|trace)\] (.*)$/;

export function parseSidecarLine(line: string): SidecarLogLine {
  const m = LINE.exec(line);
  if (m) return { level: m[1] as LogLevel, message: m[2] };
  // Unformatted stderr is not ours: usually a crash report, so make it visible.
  const level: LogLevel = /error|abort|fatal|segmentation|exception/i.test(line) ? 'error' : 'info';
  return { level, message: line };
}
