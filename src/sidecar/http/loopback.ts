// Where the endpoint may listen: 127.0.0.1 only. The API runs arbitrary prompts on the user's
// machine with a bearer token sent in clear text; exposing it to a network is a decision we do not
// let a setting make silently (an SSH tunnel or a TLS reverse proxy is the way to share it).

export const LOOPBACK_HOST = '127.0.0.1';

/** The address to bind for `host` (undefined = default); throws with the reason for any other host. */
export function loopbackBindAddress(host: string | undefined): string {
  if (host === undefined || host === LOOPBACK_HOST || host === 'localhost') return LOOPBACK_HOST;
  throw new Error(
    `refusing to listen on ${JSON.stringify(host)}: the LocalMoE API binds ${LOOPBACK_HOST} only ` +
      '(share it through an SSH tunnel or a TLS reverse proxy if you must)',
  );
}

/** Throws unless `port` is 0 (any free port) or a valid TCP port. */
export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`port must be an integer from 0 to 65535 (0 = any free port), got ${port}`);
  }
}
