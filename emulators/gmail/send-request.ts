import type { IncomingMessage } from 'node:http';
import { badRequest, type GoogleError } from './google-errors.ts';
import { parseMimeHeaders } from './mime-headers.ts';
import { boundaryOf, isAcceptedMediaType, mediaTypeOf, parseMultipartRelated, readBodyCapped } from './upload.ts';

/** `mediaUpload.maxSize` of users.messages.send in the Gmail discovery document (revision 20260727). */
export const GMAIL_SEND_MAX_BYTES = 36_700_160;
/** `mediaUpload.maxSize` of users.messages.insert and users.messages.import (same revision). */
export const GMAIL_INSERT_MAX_BYTES = 157_286_400;

/** Room for the JSON metadata part and delimiters of a multipart upload, on top of the media itself. */
const MULTIPART_OVERHEAD_BYTES = 1024 * 1024;

export type UploadType = 'json' | 'media' | 'multipart';

export interface SendRequest {
  raw: Buffer;
  headers: Record<string, string>;
  uploadType: UploadType;
  /** `threadId` from the Message resource sent with the raw message (JSON body or multipart metadata). */
  threadId?: string;
  /** `labelIds` from the same Message resource (insert and import apply them; send ignores them). */
  labelIds?: string[];
}

export interface SendLimits {
  maxUploadBytes: number;
  /** Gmail refuses large JSON (non-upload) requests below maxSize; the exact limit is undocumented. */
  jsonPayloadLimitBytes?: number;
}

const RAW_REQUIRED = "'raw' RFC822 payload message string or uploading message via /upload/* URL required";

export const tooLarge = (): GoogleError => ({
  status: 413,
  message: 'Request Entity Too Large',
  // The reason is the emulator's guess: Google's upload front end does not document its 413 body.
  item: { reason: 'uploadTooLarge' },
});

function notAcceptedMediaType(contentType: string | undefined): GoogleError {
  return badRequest(`Media type '${mediaTypeOf(contentType)}' is not supported. Valid media types: [message/*]`);
}

function decodeRaw(raw: unknown): Buffer | GoogleError {
  if (typeof raw !== 'string' || raw === '') return badRequest(RAW_REQUIRED);
  // Google's proto JSON accepts both the URL-safe and the standard base64 alphabets, padded or not.
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(raw)) {
    return badRequest(
      `Invalid value at 'message.raw' (TYPE_BYTES), Base64 decoding failed for "${raw.slice(0, 40)}"`,
      'invalid',
    );
  }
  return Buffer.from(raw, 'base64');
}

type Metadata = { raw?: unknown; threadId?: string; labelIds?: string[] };

function metadataOf(value: unknown): Metadata | GoogleError {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    return badRequest('Invalid JSON payload received. Expected an object.', 'invalid');
  }
  const record = value as Record<string, unknown>;
  const { labelIds } = record;
  if (labelIds !== undefined && !(Array.isArray(labelIds) && labelIds.every((id) => typeof id === 'string'))) {
    return badRequest(`Invalid JSON payload received. Invalid value at 'message.label_ids'.`, 'invalid');
  }
  return {
    raw: record.raw,
    threadId: typeof record.threadId === 'string' ? record.threadId : undefined,
    labelIds: labelIds as string[] | undefined,
  };
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

async function readJsonSend(req: IncomingMessage, limits: SendLimits): Promise<SendRequest | GoogleError> {
  const cap = limits.jsonPayloadLimitBytes ?? Math.ceil((limits.maxUploadBytes * 4) / 3) + MULTIPART_OVERHEAD_BYTES;
  const { body, tooLarge: over } = await readBodyCapped(req, cap);
  if (over && limits.jsonPayloadLimitBytes !== undefined) {
    return badRequest(`Request payload size exceeds the limit: ${limits.jsonPayloadLimitBytes} bytes.`);
  }
  if (over) return tooLarge();
  const metadata = metadataOf(parseJson(body));
  if ('status' in metadata) return metadata;
  const raw = decodeRaw(metadata.raw);
  if (!Buffer.isBuffer(raw)) return raw;
  return {
    raw,
    headers: parseMimeHeaders(raw),
    uploadType: 'json',
    threadId: metadata.threadId,
    labelIds: metadata.labelIds,
  };
}

function readMultipartSend(body: Buffer, contentType: string | undefined): SendRequest | GoogleError {
  const boundary = boundaryOf(contentType);
  const parts =
    boundary && mediaTypeOf(contentType) === 'multipart/related' ? parseMultipartRelated(body, boundary) : undefined;
  if (parts?.length !== 2) return badRequest('Invalid multipart request: expected a metadata part and a media part.');
  const metadataPart = parts[0]!;
  const mediaPart = parts[1]!;
  const metadata = metadataOf(parseJson(metadataPart.body));
  if ('status' in metadata) return metadata;
  if (!isAcceptedMediaType(mediaPart.headers['content-type']))
    return notAcceptedMediaType(mediaPart.headers['content-type']);
  const raw = mediaPart.body;
  return {
    raw,
    headers: parseMimeHeaders(raw),
    uploadType: 'multipart',
    threadId: metadata.threadId,
    labelIds: metadata.labelIds,
  };
}

/** Reads a send request on the JSON path (`mode: 'json'`) or the simple upload path (`mode: 'upload'`). */
export async function readSendRequest(
  req: IncomingMessage,
  url: URL,
  mode: 'json' | 'upload',
  limits: SendLimits,
): Promise<SendRequest | GoogleError> {
  const request = await readMessageRequest(req, url, mode, limits);
  if ('status' in request) return request;
  if (!request.headers.to && !request.headers.cc && !request.headers.bcc) {
    return badRequest('Recipient address required', 'invalidArgument');
  }
  return request;
}

/**
 * A Message resource with its `raw` MIME, as send, insert and import take it: `{raw}` JSON, or a simple upload
 * (media or multipart/related). Only send needs recipients: insert and import put mail in a mailbox as it is.
 */
export async function readMessageRequest(
  req: IncomingMessage,
  url: URL,
  mode: 'json' | 'upload',
  limits: SendLimits,
): Promise<SendRequest | GoogleError> {
  let request: SendRequest | GoogleError;
  if (mode === 'json') {
    request = await readJsonSend(req, limits);
  } else {
    const uploadType = url.searchParams.get('uploadType') ?? url.searchParams.get('upload_protocol');
    if (uploadType !== 'media' && uploadType !== 'multipart') {
      await readBodyCapped(req, 0);
      if (uploadType === 'resumable') {
        return {
          status: 501,
          message: 'The emulator does not implement resumable uploads.',
          item: { reason: 'notImplemented' },
        };
      }
      return badRequest(
        'Upload requests must include an uploadType URL parameter and a URL path beginning with /upload/',
      );
    }
    const contentType = req.headers['content-type'];
    const { body, tooLarge: over } = await readBodyCapped(req, limits.maxUploadBytes + MULTIPART_OVERHEAD_BYTES);
    if (over) return tooLarge();
    if (uploadType === 'multipart') {
      request = readMultipartSend(body, contentType);
    } else {
      if (!isAcceptedMediaType(contentType)) return notAcceptedMediaType(contentType);
      request = { raw: body, headers: parseMimeHeaders(body), uploadType: 'media' };
    }
  }
  if ('status' in request) return request;
  if (request.raw.length > limits.maxUploadBytes) return tooLarge();
  return request;
}
