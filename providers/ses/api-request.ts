import type { Body, MessageHeader, SendEmailCommandInput } from '@aws-sdk/client-sesv2';
import { optionsFor } from '../../core/contract/provider-options.ts';
import type { MailAddress } from '../../core/message/address.ts';
import type { PreparedMessage } from '../../core/message/compose.ts';
import type { NormalizedMessage } from '../../core/message/message.ts';
import { checkOneUnsubscribe, type SesConfig, sesOptions } from './config.ts';

// Simple's header rules, from the SES v2 model (MessageHeaderList max 15; MessageHeaderName/Value patterns).
const SIMPLE_MAX_HEADERS = 15;
const SIMPLE_HEADER_NAME = /^[!-9;-~]{1,126}$/;
const SIMPLE_HEADER_VALUE = /^[ -~]{1,995}$/;
// SES refuses, in Simple content, the headers it sets itself, and the model does not list them. Only headers that
// are certainly the sender's own go through Simple: X- extensions and the List-Unsubscribe pair (RFC 8058).
const SIMPLE_HEADER_OWN = /^(x-|list-unsubscribe(-post)?$)/i;
const PRINTABLE_ASCII = /^[ -~]*$/;

/**
 * Simple or Raw, decided per message.
 *
 * Simple (SES writes the MIME) is used when the message is only what Simple carries without loss: addresses
 * with ASCII display names, subject, text, html, and headers within Simple's rules above. Raw, the already
 * composed `prepared.raw` (never recomposed), is used as soon as the message has:
 * - attachments or inline images. The current model gives Simple `Attachments` (with INLINE and ContentId), but
 *   SES would then write a second MIME message of its own: Raw sends exactly the bytes the core measured against
 *   the limits, with the multipart/related structure the composer built for `cid:` references;
 * - a header Simple cannot carry (more than 15, a non-ASCII value, a name SES may set itself);
 * - a non-ASCII display name, which Simple's address fields only take as RFC 2047 words the composer already wrote.
 * Either way SES replaces Message-ID and Date with its own (SES header-fields documentation).
 */
export function fitsSimple(message: NormalizedMessage): boolean {
  if (message.attachments.length) return false;
  const headers = Object.entries(message.headers);
  if (headers.length > SIMPLE_MAX_HEADERS) return false;
  const simpleHeader = ([name, value]: [string, string]) =>
    SIMPLE_HEADER_NAME.test(name) && SIMPLE_HEADER_OWN.test(name) && SIMPLE_HEADER_VALUE.test(value);
  if (!headers.every(simpleHeader)) return false;
  const mailboxes = [message.from, ...message.to, ...message.cc, ...message.bcc, ...message.replyTo];
  return mailboxes.every((m) => m.name === undefined || PRINTABLE_ASCII.test(m.name));
}

/** The `SendEmail` input for one composed message: content, configuration set, tags, list management. */
export async function buildSendEmailInput(
  prepared: PreparedMessage,
  config: SesConfig,
): Promise<SendEmailCommandInput> {
  const { message } = prepared;
  const options = optionsFor(message, 'ses', 'api', sesOptions);
  checkOneUnsubscribe(message, options, 'api');
  const configurationSet = options.configurationSet ?? config.configurationSet;
  const common: Partial<SendEmailCommandInput> = {
    ...(configurationSet ? { ConfigurationSetName: configurationSet } : {}),
    ...(message.tags.length ? { EmailTags: message.tags.map((t) => ({ Name: t.name, Value: t.value })) } : {}),
    ...(options.listManagement
      ? {
          ListManagementOptions: {
            ContactListName: options.listManagement.contactListName,
            ...(options.listManagement.topicName ? { TopicName: options.listManagement.topicName } : {}),
          },
        }
      : {}),
  };
  if (!fitsSimple(message)) {
    // Bcc is not in the composed headers: the envelope (every recipient) goes in Destination.
    return {
      ...common,
      FromEmailAddress: prepared.envelope.from,
      Destination: { ToAddresses: prepared.envelope.to },
      Content: { Raw: { Data: await prepared.mime() } },
    };
  }
  const list = (addresses: MailAddress[]) => (addresses.length ? addresses.map(formatMailbox) : undefined);
  const utf8 = (data: string) => ({ Data: data, Charset: 'UTF-8' });
  const body: Body = {
    ...(message.text === undefined ? {} : { Text: utf8(message.text) }),
    ...(message.html === undefined ? {} : { Html: utf8(message.html) }),
  };
  const headers: MessageHeader[] = Object.entries(message.headers).map(([Name, Value]) => ({ Name, Value }));
  return {
    ...common,
    FromEmailAddress: formatMailbox(message.from),
    Destination: {
      ...(message.to.length ? { ToAddresses: list(message.to) } : {}),
      ...(message.cc.length ? { CcAddresses: list(message.cc) } : {}),
      ...(message.bcc.length ? { BccAddresses: list(message.bcc) } : {}),
    },
    ...(message.replyTo.length ? { ReplyToAddresses: list(message.replyTo) } : {}),
    Content: {
      Simple: { Subject: utf8(message.subject), Body: body, ...(headers.length ? { Headers: headers } : {}) },
    },
  };
}

/** `"Display Name" <user@example.com>`: a quoted string, so commas and other specials in the name are safe. */
function formatMailbox({ name, address }: MailAddress): string {
  return name === undefined ? address : `"${name.replace(/(["\\])/g, '\\$1')}" <${address}>`;
}
