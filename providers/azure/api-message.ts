import { createHash, randomUUID } from 'node:crypto';
import type { EmailAddress, EmailMessage } from '@azure/communication-email';
import { optionsFor } from '../../core/contract/provider-options.ts';
import type { MailAddress } from '../../core/message/address.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import type { NormalizedMessage } from '../../core/message/message.ts';
import { type AzureConfig, azureOptions } from './config.ts';

/**
 * The ACS `EmailMessage` for one message. ACS takes structured fields, not MIME, so this is built from the
 * normalized message the MIME was composed from; the composed size stands for the request size in the limits
 * (attachments are base64 in both). The sender's display name is not part of the API: ACS shows the one
 * configured for the sender address on the resource's domain.
 */
export function toAcsMessage(prepared: PreparedMessage, config: AzureConfig): EmailMessage {
  const { message } = prepared;
  const options = optionsFor(message, 'azure', 'api', azureOptions);
  const tracking = options.engagementTracking ?? config.engagementTracking;
  const content =
    message.html === undefined
      ? { subject: message.subject, plainText: message.text ?? '' }
      : {
          subject: message.subject,
          html: message.html,
          ...(message.text === undefined ? {} : { plainText: message.text }),
        };
  return {
    senderAddress: message.from.address,
    content,
    // `to` is required by the API even when every recipient is in cc or bcc.
    recipients: {
      to: message.to.map(emailAddress),
      ...(message.cc.length ? { cc: message.cc.map(emailAddress) } : {}),
      ...(message.bcc.length ? { bcc: message.bcc.map(emailAddress) } : {}),
    },
    ...(message.replyTo.length ? { replyTo: message.replyTo.map(emailAddress) } : {}),
    ...(Object.keys(message.headers).length ? { headers: { ...message.headers } } : {}),
    ...(message.attachments.length
      ? {
          attachments: message.attachments.map((a) => ({
            name: a.filename,
            contentType: a.contentType,
            contentInBase64: a.content.toString('base64'),
            // A content id makes it inline (api-version 2025-09-01), referenced from the html as cid:<id>.
            ...(a.contentId ? { contentId: a.contentId } : {}),
          })),
        }
      : {}),
    // The SDK's name for the wire's `userEngagementTrackingDisabled`; absent leaves the resource's setting.
    ...(tracking === undefined ? {} : { disableUserEngagementTracking: !tracking }),
  };
}

/**
 * The `Operation-Id` for a message: with an idempotency key, a UUID made from a SHA-256 of the key (version 8,
 * RFC 9562's layout for hash-derived ids), so a retry or a redelivery of the same message names the same
 * operation and the service answers with it instead of sending again; without a key, a random UUID.
 * @example operationIdFor({ ...message, idempotencyKey: 'order-42' }) // the same UUID every time
 */
export function operationIdFor(message: NormalizedMessage): string {
  return message.idempotencyKey ? keyedUuid('acs-operation-id', message.idempotencyKey) : randomUUID();
}

/**
 * The `Repeatability-Request-Id` for a message with an idempotency key (a UUID of the key, like the Operation-Id
 * but in a namespace of its own); undefined without a key: such a send is not repeatable.
 */
export function repeatabilityIdFor(message: NormalizedMessage): string | undefined {
  return message.idempotencyKey ? keyedUuid('acs-repeatability-request-id', message.idempotencyKey) : undefined;
}

function keyedUuid(namespace: string, key: string): string {
  const bytes = createHash('sha256').update(`mailroute/${namespace}/${key}`).digest();
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function emailAddress(mailbox: MailAddress): EmailAddress {
  return mailbox.name === undefined
    ? { address: mailbox.address }
    : { address: mailbox.address, displayName: mailbox.name };
}
