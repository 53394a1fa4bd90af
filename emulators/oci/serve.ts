import type { KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type FaultPlan, playLatencyAndDrop, readBody } from '../common/faults.ts';
import { errorFor, faultError, requestIdFor, sendOciError } from './oci-errors.ts';
import { verifyOciSignature } from './signature.ts';

/** The request plumbing the OCI emulators (Email Delivery, Queue, Vault) share. */

export type OciHandler = (req: IncomingMessage, res: ServerResponse, requestId: string) => Promise<void>;

/** A server whose every answer carries an `opc-request-id`; a handler that throws answers OCI's 500. */
export function createOciServer(handle: OciHandler): Server {
  return createServer((req, res) => {
    const requestId = requestIdFor(req);
    handle(req, res, requestId).catch((error: unknown) => {
      if (res.headersSent) return res.destroy();
      sendOciError(res, errorFor(500, `Emulator error: ${String(error)}`), requestId);
    });
  });
}

/**
 * Plays the fault armed for `path` (latency, hang, drop, then its status), reading the body on the way. Returns
 * the body when the request goes on, undefined when the fault has answered it.
 */
export async function playOciFault(
  faults: FaultPlan,
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
): Promise<Buffer | undefined> {
  const fault = faults.take(path);
  if (fault && (await playLatencyAndDrop(fault, req, res))) return undefined;
  const body = await readBody(req);
  if (fault && (fault.status !== undefined || fault.errorCode !== undefined)) {
    sendOciError(res, faultError(fault), requestId);
    return undefined;
  }
  return body;
}

/** Checks the request signature: the signing keyId, or undefined once OCI's 401 is answered. */
export function authenticate(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  keys: Map<string, KeyObject>,
  requestId: string,
): string | undefined {
  const auth = verifyOciSignature(req, body, keys);
  if (auth.ok) return auth.keyId;
  // OCI's 401 never says why; the extra header tells a test which check failed.
  sendOciError(res, { ...errorFor(401), headers: { 'x-emulator-auth-failure': auth.reason } }, requestId);
  return undefined;
}
