import { pipeline, type Readable, Transform } from 'node:stream';

/** Whether the last byte of a message (the final dot) went to the server. */
export interface Handover {
  size: number;
  done: boolean;
}
export const HANDOVER = 'mailrouteHandover';

/** Backpressure works per chunk: a message handed over as one big Buffer would count as read before it is sent. */
const SLICE_BYTES = 64 * 1024;

/**
 * Watches the last stage of the message stream: it ends only when the SMTP client has read all of it, and the
 * client writes the final dot right after. Until then the server cannot have the whole message; after that it
 * may. A large message is cut into slices the client reads only as fast as the socket takes them.
 */
export function watchHandover(input: Readable, handover: Handover): Readable {
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
