import { auth, gmail, type gmail_v1 } from '@googleapis/gmail';
import type { ConnectAgents } from '../http/agents.ts';
import { ConnectWatch, currentForNow, WATCH_OPTION } from '../http/connect-watch.ts';

export const GMAIL_SEND_SCOPE = 'https://www.googleapis.com/auth/gmail.send';
/** The narrowest scope that may search a mailbox (`q` on users.messages.list); gmail.metadata may not. */
export const GMAIL_READONLY_SCOPE = 'https://www.googleapis.com/auth/gmail.readonly';
export const GMAIL_ROOT_URL = 'https://gmail.googleapis.com/';
/** google-auth-library posts every JWT-bearer grant to this fixed URL. */
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

export interface GmailApiClientOptions {
  clientEmail: string;
  /** PEM of the service account's RSA key. */
  privateKey: string;
  /** The Workspace user to send as (domain-wide delegation): the JWT `sub`. */
  user: string;
  /** Token endpoint override (tests, private access); default Google's. */
  tokenUrl?: string;
  /** Agents whose new connections are bounded in time, for the token and the API requests alike. */
  agents?: ConnectAgents;
}

export type JwtClient = InstanceType<typeof auth.JWT>;

export interface GmailApiClient {
  jwt: JwtClient;
  gmail: gmail_v1.Gmail;
}

/**
 * A Gmail client acting as `user` through domain-wide delegation. Scopes are set so the JWT asks the token
 * endpoint for an access token (without them it self-signs, which delegation does not accept). One scope per
 * client: the token endpoint refuses the whole request when one scope is not delegated.
 */
export function createGmailApiClient(
  options: GmailApiClientOptions,
  rootUrl: string,
  scope = GMAIL_SEND_SCOPE,
): GmailApiClient {
  const jwt = new auth.JWT({
    email: options.clientEmail,
    key: options.privateKey,
    scopes: [scope],
    subject: options.user,
  });
  const tokenUrl = options.tokenUrl && options.tokenUrl !== GOOGLE_TOKEN_URL ? new URL(options.tokenUrl) : undefined;
  jwt.transporter.interceptors.request.add({
    resolved: async (config) => {
      if (config.url.toString() !== GOOGLE_TOKEN_URL) return withAgent(config, options.agents);
      // The token URL is fixed in google-auth-library; an interceptor is the one place to redirect it.
      if (tokenUrl) config.url = new URL(tokenUrl);
      withAgent(config, options.agents);
      // google-auth-library retries a failed token POST three times with backoff; retries are the router's.
      config.retryConfig = { ...config.retryConfig, retry: 0, noResponseRetries: 0 };
      return config;
    },
  });
  return { jwt, gmail: gmail({ version: 'v1', auth: jwt, rootUrl }) };
}

/**
 * Token and API requests both go through the JWT client's transporter (node-fetch over node:http). A request made
 * with a `ConnectWatch` in its options (`WATCH_OPTION`, kept by googleapis and gaxios as they merge options) gets
 * the agent through a function: node-fetch calls it synchronously right before `http.request`, so the watch is the
 * current one while the agent opens the connection.
 */
function withAgent<T extends { url: URL | string; agent?: unknown }>(config: T, agents: ConnectAgents | undefined): T {
  if (!agents || config.agent) return config;
  const agent = agents.for(config.url);
  const watch = (config as Record<string, unknown>)[WATCH_OPTION];
  config.agent =
    watch instanceof ConnectWatch
      ? () => {
          currentForNow(watch);
          return agent;
        }
      : agent;
  return config;
}
