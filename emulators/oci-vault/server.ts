import type { IncomingMessage, ServerResponse } from 'node:http';
import { FaultPlan } from '../common/faults.ts';
import { closeServer, listen } from '../common/http.ts';
import { errorFor, sendJson, sendOciError } from '../oci/oci-errors.ts';
import { authenticate, createOciServer, playOciFault } from '../oci/serve.ts';
import { keysById, type OciApiKey } from '../oci/signature.ts';

export interface OciVaultEmulatorOptions {
  host?: string;
  port?: number;
  /** API signing keys the emulator trusts, by keyId. */
  keys: OciApiKey[];
  /** Secret OCID → its current text (served base64-encoded, as a BASE64 bundle). */
  secrets?: Record<string, string>;
}

export interface OciVaultEmulator {
  /** `http://host:port`: set `SecretsClient.endpoint` to it (the SDK appends `/20190301`). */
  url: string;
  faults: FaultPlan;
  /** Secret OCID → text; tests may add, change or remove secrets while it runs. */
  secrets: Map<string, string>;
  /** Every secret OCID read, in order (to count cold-start reads). */
  reads: string[];
  close(): Promise<void>;
}

const BUNDLE = /^\/20190301\/secretbundles\/([^/]+)$/;

/**
 * The OCI Vault Secret Retrieval API's `GET /20190301/secretbundles/{secretId}` on loopback, request signatures
 * verified: answers the CURRENT version as `{ secretId, versionNumber, stages, secretBundleContent: { contentType:
 * 'BASE64', content } }`, or OCI's 404 `NotAuthorizedOrNotFound` for a secret it does not hold.
 */
export async function startOciVaultEmulator(options: OciVaultEmulatorOptions): Promise<OciVaultEmulator> {
  const keys = keysById(options.keys);
  const faults = new FaultPlan();
  const secrets = new Map(Object.entries(options.secrets ?? {}));
  const reads: string[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string) => {
    const path = new URL(req.url ?? '/', 'http://emulator').pathname;
    const body = await playOciFault(faults, path, req, res, requestId);
    if (!body || authenticate(req, res, body, keys, requestId) === undefined) return;
    const secretId = decodeURIComponent(BUNDLE.exec(path)?.[1] ?? '');
    if (req.method !== 'GET' || !secretId) return sendOciError(res, errorFor(404), requestId);
    reads.push(secretId);
    const text = secrets.get(secretId);
    if (text === undefined) return sendOciError(res, errorFor(404), requestId);
    sendJson(
      res,
      200,
      {
        secretId,
        versionNumber: 1,
        stages: ['CURRENT', 'LATEST'],
        timeCreated: new Date(0).toISOString(),
        secretBundleContent: { contentType: 'BASE64', content: Buffer.from(text, 'utf8').toString('base64') },
      },
      requestId,
    );
  };

  const server = createOciServer(handle);
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port, host);
  return {
    url: `http://${host}:${port}`,
    faults,
    secrets,
    reads,
    close: () => closeServer(server),
  };
}
