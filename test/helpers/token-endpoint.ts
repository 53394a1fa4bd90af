import { verify } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TokenEndpoint {
  url: string;
  /** The claims of every JWT whose signature checked out, in order. */
  grants: Record<string, unknown>[];
  issued: string[];
  close(): Promise<void>;
}

/**
 * An OAuth 2.0 token endpoint on loopback for the JWT bearer grant: it checks the assertion's RS256 signature
 * against the service account's public key and hands out numbered access tokens.
 */
export async function startTokenEndpoint(publicKey: string): Promise<TokenEndpoint> {
  const state: TokenEndpoint = { url: '', grants: [], issued: [], close: async () => {} };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const [header, claims, signature] = (form.get('assertion') ?? '').split('.');
      const signed =
        form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer' &&
        header &&
        claims &&
        signature &&
        verify('RSA-SHA256', Buffer.from(`${header}.${claims}`), publicKey, Buffer.from(signature, 'base64url'));
      res.setHeader('content-type', 'application/json');
      if (!signed) {
        res.statusCode = 400;
        res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }));
        return;
      }
      state.grants.push(JSON.parse(Buffer.from(claims, 'base64url').toString()));
      const token = `ya29.test-token-${state.grants.length}`;
      state.issued.push(token);
      res.end(JSON.stringify({ access_token: token, expires_in: 3599, token_type: 'Bearer' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}
