import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Fault, FaultPlan, playLatencyAndDrop, readBody, sleep } from '../common/faults.ts';
import { authority, closeServer, listen } from '../common/http.ts';
import { handleGetMessage } from './get-message.ts';
import { googleFaultError, oauthFaultError, sendGoogleError, sendJson, sendOAuthError } from './google-errors.ts';
import { handleInsertMessage } from './insert-message.ts';
import { type AssertionPolicy, GOOGLE_TOKEN_URL, keysByEmail, type ServiceAccountKey } from './jwt-assertion.ts';
import { handleListMessages } from './list-messages.ts';
import { authorizeMailbox, GMAIL_SEND_SCOPE, handleTokenRequest, SEND_METHOD_SCOPES } from './oauth.ts';
import { GMAIL_SEND_MAX_BYTES, readSendRequest, type SendLimits, type UploadType } from './send-request.ts';
import { TokenStore } from './token-store.ts';

export interface GmailEmulatorOptions {
  host?: string;
  port?: number;
  serviceAccounts: ServiceAccountKey[];
  /** Workspace users the service accounts may impersonate (`sub`) through domain-wide delegation. */
  delegatedUsers: string[];
  /**
   * Scopes the (simulated) Workspace admin granted for delegation; default gmail.send only. Issued tokens carry
   * the scopes their assertion asked for; asking for one not granted is refused (401 unauthorized_client).
   */
  delegatedScopes?: string[];
  /** Lifetime of issued access tokens; Google's is 3599 s. */
  tokenTtlSeconds?: number;
  /** Default: the discovery document's maxSize, 36,700,160 bytes. */
  maxUploadBytes?: number;
  /** A lower limit for the JSON path (`{"raw": ...}`), answered 400 like Gmail; default none. */
  jsonPayloadLimitBytes?: number;
}

export interface GmailStoredMessage {
  id: string;
  threadId: string;
  /** The sending user: the token's `sub`, whatever `userId` (`me` or the address) the path named. */
  user: string;
  raw: Buffer;
  /** Top-level MIME headers, names lower-cased, first occurrence, not RFC 2047-decoded. */
  headers: Record<string, string>;
  labelIds: string[];
  uploadType: UploadType;
  /**
   * Gmail's `internalDate`, which orders listings and which `after:`/`before:` search: when the message was sent or
   * inserted, or its Date header for an insert or import with `internalDateSource=dateHeader`.
   */
  receivedAt: Date;
}

export interface GmailEmulator {
  /** `http://host:port`: pass `${url}/` as the Gmail client's `rootUrl`. */
  url: string;
  /** Where the token request must be redirected (google-auth-library posts to a fixed Google URL). */
  tokenUrl: string;
  store: GmailStoredMessage[];
  faults: FaultPlan;
  /** Forgets stored messages and faults; issued tokens stay valid so cached SDK tokens keep working. */
  reset(): void;
  /** Expires every issued token server-side, as a revocation or a long pause would. */
  expireTokens(): void;
  /** Replaces the delegated scopes, as an admin editing the delegation would; issued tokens keep theirs. */
  setDelegatedScopes(scopes: string[]): void;
  /**
   * messages.send requests read in full and authorized: the emulator "has" them, even while a latency fault holds
   * the answer back (it still sends them when their client has gone away, as Gmail would).
   */
  received(): number;
  close(): Promise<void>;
}

interface Context {
  policy: AssertionPolicy;
  tokens: TokenStore;
  limits: SendLimits;
  store: GmailStoredMessage[];
  faults: FaultPlan;
  received: number;
}

const SEND_PATH = /^\/gmail\/v1\/users\/([^/]+)\/messages\/send$/;
const UPLOAD_PATH = /^\/(resumable\/)?upload\/gmail\/v1\/users\/([^/]+)\/messages\/send$/;
/** users.messages.list (GET) and insert (POST), or with a last segment: get (GET) and import (POST). */
const MESSAGES_PATH = /^\/gmail\/v1\/users\/([^/]+)\/messages(?:\/([^/]+))?$/;
const INSERT_UPLOAD_PATH = /^\/(?:resumable\/)?upload\/gmail\/v1\/users\/([^/]+)\/messages(\/import)?$/;

/**
 * Starts a Gmail API emulator (OAuth token endpoint; users.messages send, list, get, insert and import) on loopback.
 * Faults match every non-control path, the token endpoint included: give `pathIncludes: '/messages/send'`
 * to hit the API only (google-auth-library retries a failed token POST by itself). `dropAfter` is played by
 * messages.send only: the message is stored, then the connection dropped.
 * @example
 * const emulator = await startGmailEmulator({ serviceAccounts: [{ clientEmail, publicKeyPem }], delegatedUsers: ['a@example.com'] });
 */
export async function startGmailEmulator(options: GmailEmulatorOptions): Promise<GmailEmulator> {
  const host = options.host ?? '127.0.0.1';
  const store: GmailStoredMessage[] = [];
  const faults = new FaultPlan();
  const context: Context = {
    policy: {
      keys: keysByEmail(options.serviceAccounts),
      delegatedUsers: new Set(options.delegatedUsers.map((user) => user.toLowerCase())),
      delegatedScopes: new Set(options.delegatedScopes ?? [GMAIL_SEND_SCOPE]),
      audiences: new Set([GOOGLE_TOKEN_URL]),
    },
    tokens: new TokenStore(options.tokenTtlSeconds ?? 3599),
    limits: {
      maxUploadBytes: options.maxUploadBytes ?? GMAIL_SEND_MAX_BYTES,
      jsonPayloadLimitBytes: options.jsonPayloadLimitBytes,
    },
    store,
    faults,
    received: 0,
  };
  const server = createServer((req, res) => {
    handle(context, req, res).catch((error: unknown) => {
      if (res.headersSent) return res.destroy();
      sendGoogleError(res, {
        status: 500,
        message: `Emulator error: ${String(error)}`,
        item: { reason: 'backendError' },
      });
    });
  });
  const url = `http://${authority(host, await listen(server, options.port, host))}`;
  // The emulator is Google at another address, so it also accepts assertions addressed to itself.
  context.policy.audiences.add(`${url}/token`);
  return {
    url,
    tokenUrl: `${url}/token`,
    store,
    faults,
    reset: () => {
      store.length = 0;
      faults.clear();
    },
    expireTokens: () => context.tokens.expireAll(),
    setDelegatedScopes: (scopes) => {
      context.policy.delegatedScopes = new Set(scopes);
    },
    received: () => context.received,
    close: () => closeServer(server),
  };
}

async function handle(context: Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://emulator');
  const path = url.pathname;
  if (path.startsWith('/_emulator/')) return handleControl(context, req, res, path);

  const fault = context.faults.take(path);
  const send = SEND_PATH.exec(path);
  const upload = UPLOAD_PATH.exec(path);
  const isSend = req.method === 'POST' && (send || upload);
  // A send's latency is played once Gmail has the request (handleSend); any other fault's before anything.
  const early = isSend && fault && !fault.drop ? { ...fault, latencyMs: 0 } : fault;
  if (early && (await playLatencyAndDrop(early, req, res))) return;
  if (fault && (fault.status !== undefined || fault.errorCode !== undefined)) {
    await readBody(req);
    if (path === '/token') {
      const error = oauthFaultError(fault);
      return sendOAuthError(res, error.status, error.error, error.description);
    }
    return sendGoogleError(res, googleFaultError(fault));
  }

  if (req.method === 'POST' && path === '/token') return handleTokenRequest(context.policy, context.tokens, req, res);
  if (isSend) {
    const userId = decodeURIComponent((send?.[1] ?? upload?.[2])!);
    return handleSend(context, req, res, url, userId, send ? 'json' : 'upload', {
      dropAfter: fault?.dropAfter === true,
      latencyMs: fault?.latencyMs ?? 0,
    });
  }
  const messages = MESSAGES_PATH.exec(path);
  const insertUpload = INSERT_UPLOAD_PATH.exec(path);
  if (req.method === 'GET' && messages) {
    const userId = decodeURIComponent(messages[1]!);
    if (messages[2] === undefined) return handleListMessages(context.tokens, context.store, req, res, url, userId);
    const id = decodeURIComponent(messages[2]);
    return handleGetMessage(context.tokens, context.store, req, res, url, userId, id);
  }
  const inserted = req.method === 'POST' ? (insertUpload ?? messages) : undefined;
  if (inserted && (inserted[2] === undefined || inserted[2] === 'import' || inserted[2] === '/import')) {
    return handleInsertMessage(context.tokens, context.store, req, res, url, {
      userId: decodeURIComponent(inserted[1]!),
      method: inserted[2] === undefined ? 'insert' : 'import',
      mode: insertUpload ? 'upload' : 'json',
      jsonPayloadLimitBytes: context.limits.jsonPayloadLimitBytes,
    });
  }
  await readBody(req);
  sendGoogleError(res, { status: 404, message: 'Method not found.', item: { reason: 'notFound' } });
}

async function handleSend(
  context: Context,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  userId: string,
  mode: 'json' | 'upload',
  play: { dropAfter: boolean; latencyMs: number },
): Promise<void> {
  const token = authorizeMailbox(context.tokens, req, url, userId, SEND_METHOD_SCOPES);
  if ('status' in token) {
    await readBody(req);
    return sendGoogleError(res, token);
  }
  const request = await readSendRequest(req, url, mode, context.limits);
  if ('status' in request) return sendGoogleError(res, request);
  context.received++;
  if (play.latencyMs) await sleep(play.latencyMs);
  // Gmail ids are 16 hex digits; a new message starts its own thread unless the caller named one.
  const id = randomBytes(8).toString('hex');
  const message: GmailStoredMessage = {
    id,
    threadId: request.threadId ?? id,
    user: token.subject,
    raw: request.raw,
    headers: request.headers,
    labelIds: ['SENT'],
    uploadType: request.uploadType,
    receivedAt: new Date(),
  };
  context.store.push(message);
  if (play.dropAfter) {
    // Sent, and the answer lost on the way back: what a client cannot tell from a request that never arrived.
    req.socket.destroy();
    res.destroy();
    return;
  }
  sendJson(res, 200, { id: message.id, threadId: message.threadId, labelIds: message.labelIds });
}

async function handleControl(context: Context, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const body = await readBody(req);
  if (req.method === 'GET' && path === '/_emulator/store') {
    const messages = context.store.map((message) => ({ ...message, raw: message.raw.toString('base64') }));
    return sendJson(res, 200, { messages });
  }
  if (req.method === 'POST' && path === '/_emulator/reset') {
    context.store.length = 0;
    context.faults.clear();
    return sendJson(res, 200, { ok: true });
  }
  if (req.method === 'POST' && path === '/_emulator/faults') {
    const parsed = JSON.parse(body.toString('utf8') || '[]') as Fault | Fault[];
    for (const fault of Array.isArray(parsed) ? parsed : [parsed]) context.faults.add(fault);
    return sendJson(res, 200, { ok: true });
  }
  sendJson(res, 404, { error: 'unknown control path' });
}
