import { pipeline, type Readable, Transform } from 'node:stream';

/** How far a message got: onto a ready session (`started`), then its last byte (the final dot) to the server. */
export interface Handover {
  size: number;
  /** The pool put the message on a connection whose session was set up (EHLO, STARTTLS, AUTH done). */
  started?: boolean;
  /** Called once, when `started` becomes true. */
  onStart?: () => void;
  done: boolean;
}
export const HANDOVER = 'mailrouteHandover';

/** Backpressure works per chunk: a message handed over as one big Buffer would count as read before it is sent. */
const SLICE_BYTES = 64 * 1024;

/**
 * Watches the last stage of the message stream, which the pool creates right before MAIL FROM: it ends only when
 * the SMTP client has read all of it, and the client writes the final dot right after. Until then the server
 * cannot have the whole message; after that it may. A large message is cut into slices the client reads only as
 * fast as the socket takes them.
 */
export function watchHandover(input: Readable, handover: Handover): Readable {
  // The pool asks for the message stream only on a connection ready for MAIL FROM: the session is set up.
  handover.started = true;
  handover.onStart?.();
  let output = input;
  if (handover.size > SLICE_BYTES) {
    const slicer = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        for (let at = 0; at < chunk.length; at += SLICE_BYTES) this.push(chunk.subarray(at, at + SLICE_BYTES));
        done();
      },
    });
    pipeline(input, slicer, () => {});
    output = slicer;
  }
  output.once('end', () => {
    handover.done = true;
  });
  return output;
}
