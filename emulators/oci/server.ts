import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Fault, FaultPlan, readBody } from '../common/faults.ts';
import { authority, closeServer, listen } from '../common/http.ts';
import { CONTROL_BASE, handleEmailControl, type OciEmailDomainSetup } from './email-control.ts';
import { errorFor, invalidParameter, sendJson, sendOciError } from './oci-errors.ts';
import { authenticate, createOciServer, playOciFault } from './serve.ts';
import { keysById, type OciApiKey } from './signature.ts';
import { checkSubmitEmail, checkSubmitRawEmail, type EmailAddress, type Submission } from './submission.ts';

export interface OciEmulatorOptions {
  host?: string;
  port?: number;
  /** API signing keys the emulator trusts, by keyId. */
  keys: OciApiKey[];
  /** Addresses on the tenancy's suppression list, reported back in `suppressedRecipients`. */
  suppressed?: string[];
  /** The email domains (with DKIM keys and return paths) the control plane (`/20170907`) answers from. */
  emailDomains?: OciEmailDomainSetup[];
}

export interface OciStoredEmail {
  operation: 'submitEmail' | 'submitRawEmail';
  messageId: string;
  envelopeId: string;
  compartmentId: string;
  sender: string;
  /** Every recipient the request named, suppressed ones included. */
  recipients: string[];
  suppressedRecipients: string[];
  /** submitEmail: the SubmitEmailDetails JSON exactly as received. */
  details?: Record<string, unknown>;
  /** submitRawEmail: the MIME bytes exactly as received, and their top-level headers. */
  raw?: Buffer;
  headers?: Record<string, string>;
  keyId: string;
  receivedAt: Date;
}

export interface OciEmulator {
  /**
   * `http://host:port`: set `client.endpoint = url`; the submission client appends `/20220926`, the control-plane
   * EmailClient `/20170907`, both served here.
   */
  url: string;
  store: OciStoredEmail[];
  faults: FaultPlan;
  /** The suppression list, lower-cased; tests may change it while the emulator runs. */
  suppressed: Set<string>;
  /** Replaces the email domains the control plane knows (`emailDomainWithDkim` builds a typical one). */
  setEmailDomains(domains: OciEmailDomainSetup[]): void;
  /** Forgets stored emails, accepted message ids and faults. */
  reset(): void;
  close(): Promise<void>;
}

interface Accepted {
  messageId: string;
  envelopeId: string;
  suppressedRecipients: string[];
}

interface Context {
  keys: ReturnType<typeof keysById>;
  store: OciStoredEmail[];
  faults: FaultPlan;
  suppressed: Set<string>;
  accepted: Map<string, Accepted>;
  control: { domains: OciEmailDomainSetup[] };
}

const BASE = '/20220926';
const OPERATIONS = new Set([`${BASE}/actions/submitEmail`, `${BASE}/actions/submitRawEmail`]);

/**
 * Starts an OCI Email Delivery submission API (20220926) emulator on loopback that the unmodified
 * oci-emaildataplane client talks to, request signatures checked, and on the same port the read side of the
 * control plane (20170907: email domains, DKIM keys, return paths) that oci-email's EmailClient reads.
 * @example
 * const oci = await startOciEmulator({ keys: [{ keyId: `${tenancy}/${user}/${fingerprint}`, publicKeyPem }] });
 * client.endpoint = oci.url;
 */
export async function startOciEmulator(options: OciEmulatorOptions): Promise<OciEmulator> {
  const host = options.host ?? '127.0.0.1';
  const context: Context = {
    keys: keysById(options.keys),
    store: [],
    faults: new FaultPlan(),
    suppressed: new Set((options.suppressed ?? []).map((address) => address.toLowerCase())),
    accepted: new Map(),
    control: { domains: [...(options.emailDomains ?? [])] },
  };
  const server = createOciServer((req, res, requestId) => handle(context, req, res, requestId));
  const port = await listen(server, options.port, host);
  return {
    url: `http://${authority(host, port)}`,
    store: context.store,
    faults: context.faults,
    suppressed: context.suppressed,
    setEmailDomains: (domains) => {
      context.control.domains = [...domains];
    },
    reset: () => reset(context),
    close: () => closeServer(server),
  };
}

function reset(context: Context): void {
  context.store.length = 0;
  context.accepted.clear();
  context.faults.clear();
}

async function handle(context: Context, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://emulator').pathname;
  if (path.startsWith('/_emulator/')) return handleControl(context, req, res, path, requestId);

  const body = await playOciFault(context.faults, path, req, res, requestId);
  if (!body) return;
  if (path.startsWith(`${CONTROL_BASE}/`)) {
    if (authenticate(req, res, body, context.keys, requestId) === undefined) return;
    return handleEmailControl(context.control, req, res, requestId);
  }
  if (!OPERATIONS.has(path)) return sendOciError(res, errorFor(404), requestId);
  if (req.method !== 'POST') return sendOciError(res, errorFor(405), requestId);

  const keyId = authenticate(req, res, body, context.keys, requestId);
  if (keyId === undefined) return;

  if (path.endsWith('/submitEmail')) {
    let details: unknown;
    try {
      details = JSON.parse(body.toString('utf8'));
    } catch {
      return sendOciError(
        res,
        errorFor(400, 'The request body could not be parsed as JSON.', 'CannotParseRequest'),
        requestId,
      );
    }
    const checked = checkSubmitEmail(details);
    if (!checked.ok) return sendOciError(res, invalidParameter(checked.message), requestId);
    const accepted = accept(context, checked.value, {
      operation: 'submitEmail',
      details: details as Record<string, unknown>,
      keyId,
    });
    // submitEmail reports suppressed recipients as EmailAddress objects, submitRawEmail as plain strings.
    const suppressedRecipients: EmailAddress[] = accepted.suppressedRecipients.map((email) => ({ email }));
    return sendJson(res, 200, { ...accepted, suppressedRecipients }, requestId);
  }

  const checked = checkSubmitRawEmail(req, body);
  if (!checked.ok) return sendOciError(res, invalidParameter(checked.message), requestId);
  const accepted = accept(context, checked.value, {
    operation: 'submitRawEmail',
    raw: body,
    headers: checked.value.headers,
    keyId,
  });
  sendJson(res, 200, accepted, requestId);
}

type Extra = Pick<OciStoredEmail, 'operation' | 'details' | 'raw' | 'headers' | 'keyId'>;

function accept(context: Context, submission: Submission, extra: Extra): Accepted {
  // The emulator's choice (whether OCI de-duplicates is not documented): a repeated Message-ID is
  // answered like the first submission, with the same envelopeId, and no second copy is stored. This
  // models the at-most-once delivery a retrying client hopes for when it reuses its Message-ID.
  const previous = submission.messageId ? context.accepted.get(submission.messageId) : undefined;
  if (previous) return previous;
  const accepted: Accepted = {
    messageId: submission.messageId ?? `${randomBytes(12).toString('hex')}@email.oci.emulator`,
    envelopeId: randomUUID(),
    suppressedRecipients: submission.recipients.filter((address) => context.suppressed.has(address.toLowerCase())),
  };
  context.accepted.set(accepted.messageId, accepted);
  context.store.push({
    ...extra,
    ...accepted,
    compartmentId: submission.compartmentId,
    sender: submission.sender,
    recipients: submission.recipients,
    receivedAt: new Date(),
  });
  return accepted;
}

async function handleControl(
  context: Context,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  requestId: string,
): Promise<void> {
  const body = await readBody(req);
  if (req.method === 'GET' && path === '/_emulator/store') {
    const emails = context.store.map((email) => ({ ...email, raw: email.raw?.toString('base64') }));
    return sendJson(res, 200, { emails }, requestId);
  }
  if (req.method === 'POST' && path === '/_emulator/reset') {
    reset(context);
    return sendJson(res, 200, { ok: true }, requestId);
  }
  if (req.method === 'POST' && path === '/_emulator/faults') {
    const parsed = JSON.parse(body.toString('utf8') || '[]') as Fault | Fault[];
    for (const fault of Array.isArray(parsed) ? parsed : [parsed]) context.faults.add(fault);
    return sendJson(res, 200, { ok: true }, requestId);
  }
  sendOciError(res, errorFor(404, 'Unknown emulator control path.'), requestId);
}
