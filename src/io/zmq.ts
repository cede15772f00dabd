/**
 * The optional `zeromq` package, loaded when a live socket is first needed,
 * so that reading files never depends on its native binary. Without it a
 * UsageError names the endpoint and says what to install.
 */
import { UsageError } from '../errors.ts';

export type Zmq = typeof import('zeromq');

export async function loadZeromq(endpoint: string): Promise<Zmq> {
  try {
    return await import('zeromq');
  } catch (err) {
    throw new UsageError(`live ZeroMQ sources need the npm package 'zeromq' (npm install zeromq): ${err instanceof Error ? err.message : String(err)}`, { field: endpoint });
  }
}
