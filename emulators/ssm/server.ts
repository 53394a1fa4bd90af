import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { FaultPlan, playLatencyAndDrop, readBody } from '../common/faults.ts';
import { closeServer, listen, ServiceError, writeAwsJson } from '../common/http.ts';

/**
 * AWS Systems Manager Parameter Store over its AWS JSON 1.1 protocol (`X-Amz-Target: AmazonSSM.<Action>`), as
 * `@aws-sdk/client-ssm` (and so `@middy/ssm`) speaks it: GetParameter, GetParameters (at most 10 names, unknown
 * ones listed in `InvalidParameters`, results in name order) and PutParameter. A SecureString is returned as
 * ciphertext unless `WithDecryption` is true. Secrets Manager secrets are readable through the reserved path
 * `/aws/reference/secretsmanager/<secret id>`, which, as on AWS, refuses a request without `WithDecryption`.
 */
export type ParameterType = 'String' | 'StringList' | 'SecureString';

interface Parameter {
  name: string;
  type: ParameterType;
  value: string;
  version: number;
  modified: number;
}

export interface SsmRequest {
  action: string;
  names: string[];
  withDecryption: boolean;
}

export interface SsmEmulator {
  url: string;
  /** Stores a parameter (default SecureString); storing it again makes a new version. */
  putParameter(name: string, value: string, type?: ParameterType): void;
  /** Stores a Secrets Manager secret string, read as `/aws/reference/secretsmanager/<id>`. */
  putSecret(id: string, value: string): void;
  /** Every request served, in order: shows what a client fetched and how often. */
  requests: SsmRequest[];
  faults: FaultPlan;
  close(): Promise<void>;
}

const ACCOUNT = '000000000000';
const SECRETS_PREFIX = '/aws/reference/secretsmanager/';

/** An SSM error; `code` is the `__type` of the answer. Always a 400. */
class SsmError extends ServiceError {}

export async function startSsmEmulator(
  options: { host?: string; port?: number; region?: string } = {},
): Promise<SsmEmulator> {
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'us-east-1';
  const parameters = new Map<string, Parameter>();
  const secrets = new Map<string, { value: string; modified: number; suffix: string }>();
  const requests: SsmRequest[] = [];
  const faults = new FaultPlan();

  // A parameter may be named by its ARN: arn:aws:ssm:<region>:<account>:parameter/<name without leading />.
  const nameOf = (name: string) => {
    const arn = /^arn:aws:ssm:[^:]*:[^:]*:parameter(\/.*)$/.exec(name);
    if (!arn) return name;
    const rest = arn[1]!;
    return parameters.has(rest) ? rest : rest.slice(1);
  };

  const read = (requested: string, decrypt: boolean): Record<string, unknown> | undefined => {
    if (requested.startsWith(SECRETS_PREFIX)) {
      if (!decrypt) {
        throw new SsmError(
          'ValidationException',
          'WithDecryption flag must be True for retrieving a Secret Manager secret.',
        );
      }
      const id = requested.slice(SECRETS_PREFIX.length);
      const secret = secrets.get(id);
      if (!secret) return undefined;
      const arn = `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:${id}-${secret.suffix}`;
      return {
        Name: requested,
        Type: 'SecureString',
        Value: secret.value,
        Version: 0,
        SourceResult: JSON.stringify({ ARN: arn, Name: id, VersionStages: ['AWSCURRENT'] }),
        LastModifiedDate: secret.modified / 1000,
        ARN: arn,
        DataType: 'text',
      };
    }
    const p = parameters.get(nameOf(requested));
    if (!p) return undefined;
    const ciphertext = createHash('sha256').update(`${p.name}:${p.version}:${p.value}`).digest('base64');
    return {
      Name: p.name,
      Type: p.type,
      Value: p.type === 'SecureString' && !decrypt ? `AQICAH${ciphertext}` : p.value,
      Version: p.version,
      LastModifiedDate: p.modified / 1000,
      ARN: `arn:aws:ssm:${region}:${ACCOUNT}:parameter/${p.name.replace(/^\//, '')}`,
      DataType: 'text',
    };
  };

  const putParameter = (name: string, value: string, type: ParameterType = 'SecureString') => {
    const version = (parameters.get(name)?.version ?? 0) + 1;
    parameters.set(name, { name, type, value, version, modified: Date.now() });
    return version;
  };

  const actions: Record<string, (input: Record<string, unknown>) => unknown> = {
    GetParameter: (input) => {
      const name = String(input.Name ?? '');
      const found = read(name, input.WithDecryption === true);
      if (!found) throw new SsmError('ParameterNotFound', `Parameter ${name} not found.`);
      return { Parameter: found };
    },
    GetParameters: (input) => {
      const names = (input.Names as string[] | undefined) ?? [];
      if (names.length < 1 || names.length > 10) {
        throw new SsmError(
          'ValidationException',
          `1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1`,
        );
      }
      const found = names.map((n) => [n, read(n, input.WithDecryption === true)] as const);
      return {
        Parameters: found
          .flatMap(([, p]) => (p ? [p] : []))
          .sort((a, b) => String(a.Name).localeCompare(String(b.Name))),
        InvalidParameters: found.filter(([, p]) => !p).map(([n]) => n),
      };
    },
    PutParameter: (input) => {
      const name = String(input.Name ?? '');
      if (parameters.has(name) && input.Overwrite !== true) {
        throw new SsmError(
          'ParameterAlreadyExists',
          'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
        );
      }
      return {
        Version: putParameter(name, String(input.Value ?? ''), (input.Type as ParameterType) ?? 'String'),
        Tier: 'Standard',
      };
    },
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: Error) =>
      reply(res, 500, { __type: 'InternalServerError', message: error.message }),
    );
  });
  async function handle(req: IncomingMessage, res: ServerResponse) {
    const input = JSON.parse((await readBody(req)).toString() || '{}') as Record<string, unknown>;
    const action = String(req.headers['x-amz-target'] ?? '').replace(/^AmazonSSM\./, '');
    const names = Array.isArray(input.Names) ? (input.Names as string[]) : input.Name ? [String(input.Name)] : [];
    requests.push({ action, names, withDecryption: input.WithDecryption === true });
    const fault = faults.take(req.url ?? '/');
    if (fault) {
      if (await playLatencyAndDrop(fault, req, res)) return;
      if (fault.status) {
        const type = fault.errorCode ?? (fault.status >= 500 ? 'InternalServerError' : 'ThrottlingException');
        return reply(res, fault.status, { __type: type, message: fault.message ?? 'Injected fault.' });
      }
    }
    const run = actions[action];
    if (!run) return reply(res, 400, { __type: 'UnknownOperationException', message: `Unknown action ${action}` });
    try {
      reply(res, 200, run(input));
    } catch (error) {
      if (!(error instanceof SsmError)) throw error;
      reply(res, 400, { __type: error.code, message: error.message });
    }
  }

  const port = await listen(server, options.port, host);
  return {
    url: `http://${host}:${port}`,
    putParameter: (name, value, type) => void putParameter(name, value, type),
    putSecret: (id, value) => {
      const suffix = secrets.get(id)?.suffix ?? randomUUID().replace(/-/g, '').slice(0, 6);
      secrets.set(id, { value, modified: Date.now(), suffix });
    },
    requests,
    faults,
    close: () => closeServer(server).catch(() => {}),
  };
}

function reply(res: ServerResponse, status: number, body: unknown) {
  writeAwsJson(res, status, body, '1.1');
}
