/**
 * Preloaded (`node --import`) into a server started as a child process on port 0 that does not say which port the
 * OS gave it (Azurite's table service prints the port it was asked for): the moment a server of the process
 * listens on TCP, its port goes to stderr on a line of its own, `mailroute-test-listening:PORT`, for the parent to
 * read. Nothing else changes. The prefix is repeated in the helpers that read it (importing this file would patch
 * the importing process).
 */
import { Server } from 'node:net';

const listen = Server.prototype.listen;
Server.prototype.listen = function (this: Server, ...args: unknown[]) {
  this.once('listening', () => {
    const address = this.address();
    if (address !== null && typeof address === 'object') {
      process.stderr.write(`\nmailroute-test-listening:${address.port}\n`);
    }
  });
  return listen.apply(this, args as never);
} as typeof listen;
