// Status-bar text, colour and tooltip in remote engine mode. Pure. The speed figures are measured
// by this client over the network (the remote server exposes no engine counters), and are labelled
// so, unlike the local engine's counters.
import type { RemoteStatus } from '../engine/remote-backend';
import type { StatusView } from './format';

export function renderRemoteStatus(s: RemoteStatus, completionsEnabled: boolean): StatusView {
  const icon =
    s.health === 'healthy'
      ? '$(cloud)'
      : s.health === 'checking'
        ? '$(sync~spin)'
        : '$(cloud-offline)';
  const speed =
    s.clientTokensPerSecond > 0 ? [`${s.clientTokensPerSecond.toFixed(1)} tok/s (client)`] : [];
  const text = [
    `${icon} LocalMoE remote: ${s.host}`,
    ...(s.health === 'unreachable' ? ['unreachable'] : speed),
  ].join(' · ');
  const md = [
    `**LocalMoE** — remote engine at \`${s.baseUrl}\`: ${s.health}`,
    '',
    s.message,
    '',
    '| measured by this client | value |',
    '|---|---|',
    `| last time to first token | ${s.clientTtftMs > 0 ? `${Math.round(s.clientTtftMs)} ms` : '–'} |`,
    `| last decode speed | ${s.clientTokensPerSecond > 0 ? `${s.clientTokensPerSecond.toFixed(2)} tok/s` : '–'} |`,
    '',
    `Inline completions: ${completionsEnabled ? 'on' : 'off'}`,
    '',
    '[Actions](command:localmoe.showActions) · [Logs](command:localmoe.showLogs) · [Chat](command:localmoe.openChat)',
  ];
  return {
    text,
    severity: s.health === 'unreachable' ? 'error' : 'normal',
    tooltip: md.join('\n'),
  };
}
