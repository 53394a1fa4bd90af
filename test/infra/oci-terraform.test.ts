import { readdirSync, readFileSync } from 'node:fs';
import { parse } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';

// Parses every .tf file of infra/oci (no provider, no network) and checks the wiring the deployment depends on.

const DIR = new URL('../../infra/oci/', import.meta.url);
// biome-ignore lint/suspicious/noExplicitAny: parsed HCL, whose shape the assertions themselves check
type Block = Record<string, any>;

let tf: { resource: Record<string, Record<string, Block[]>>; variable: Record<string, Block[]>; [k: string]: unknown };
let locals: Record<string, string>;
const files = readdirSync(DIR).filter((f) => f.endsWith('.tf'));
const readme = readFileSync(new URL('README.md', DIR), 'utf8');

beforeAll(async () => {
  tf = { resource: {}, variable: {} };
  for (const file of files) {
    const parsed = await parse(file, readFileSync(new URL(file, DIR), 'utf8'));
    for (const [kind, value] of Object.entries(parsed)) {
      if (kind === 'resource') {
        for (const [type, byName] of Object.entries(value as Record<string, Record<string, Block[]>>)) {
          tf.resource[type] = { ...tf.resource[type], ...byName };
        }
      } else if (Array.isArray(value)) tf[kind] = [...((tf[kind] as Block[]) ?? []), ...value];
      else tf[kind] = { ...(tf[kind] as object), ...(value as object) };
    }
  }
  locals = Object.assign({}, ...((tf.locals as Block[]) ?? []));
});

/** The one block of a resource (each is a list of one block in hcl2json's output). */
const resource = (type: string, name: string): Block => {
  const block = tf.resource[type]?.[name]?.[0];
  if (!block) throw new Error(`no resource ${type}.${name}`);
  return block;
};
const single = (list: Block[] | undefined): Block => {
  expect(list).toHaveLength(1);
  return list![0]!;
};
/** A statement with `${local.x}` replaced by the local's text, the way Terraform would. */
const expand = (text: string) => text.replace(/\$\{local\.([a-z_]+)\}/g, (_, name: string) => locals[name] ?? '');
const statements = () =>
  Object.values(tf.resource.oci_identity_policy ?? {}).flatMap((blocks) =>
    blocks.flatMap((b) => (b.statements as string[]).map(expand)),
  );

/** Every string of the configuration outside variable declarations and description texts. */
function expressionStrings(node: unknown, key = ''): string[] {
  if (typeof node === 'string') return key === 'description' ? [] : [node];
  if (Array.isArray(node)) return node.flatMap((n) => expressionStrings(n, key));
  if (node && typeof node === 'object') {
    return Object.entries(node).flatMap(([k, v]) => (k === 'variable' && key === '' ? [] : expressionStrings(v, k)));
  }
  return [];
}
const usedVariables = () =>
  new Set(expressionStrings(tf).flatMap((s) => [...s.matchAll(/\bvar\.([a-z_][a-z0-9_]*)/g)].map((m) => m[1]!)));

describe('infra/oci Terraform', () => {
  it('pins the oci provider to ~> 6 and Terraform to a version with templatestring()', () => {
    const terraform = single(tf.terraform as Block[]);
    expect(single(terraform.required_providers).oci).toEqual({ source: 'oracle/oci', version: '~> 6.0' });
    expect(terraform.required_version).toBe('>= 1.9');
  });

  it('the send queue has a dead-letter delivery count; the failed queue exists', () => {
    const send = resource('oci_queue_queue', 'send');
    expect(send.dead_letter_queue_delivery_count).toBe(`\${var.send_queue_max_deliveries}`);
    const deliveries = single(tf.variable.send_queue_max_deliveries).default;
    expect(deliveries).toBeGreaterThan(0);
    // A batch in flight must not become visible again while the function still works on it.
    const visibility = single(tf.variable.send_queue_visibility_seconds).default;
    expect(visibility).toBeGreaterThan(single(tf.variable.function_timeout_seconds).default);
    expect(send.visibility_in_seconds).toBe(`\${var.send_queue_visibility_seconds}`);
    expect(resource('oci_queue_queue', 'failed').compartment_id).toBe(`\${var.compartment_ocid}`);
  });

  it('the connector reads the send queue and invokes the function, in batches, after the policy exists', () => {
    const connectors = Object.values(tf.resource.oci_sch_service_connector ?? {}).flat();
    expect(connectors).toHaveLength(1);
    const connector = connectors[0]!;
    const source = single(connector.source);
    expect(source).toMatchObject({ kind: 'plugin', plugin_name: 'QueueSource' });
    expect(source.config_map).toMatch(/^\$\{jsonencode\(\{\s*queueId\s*=\s*oci_queue_queue\.send\.id\s*\}\)\}$/);
    const target = single(connector.target);
    expect(target).toMatchObject({
      kind: 'functions',
      function_id: `\${oci_functions_function.mailroute.id}`,
      batch_size_in_num: `\${var.connector_batch_size}`,
      batch_time_in_sec: `\${var.connector_batch_seconds}`,
    });
    expect(target.batch_size_in_kbs).toBeUndefined(); // only one size threshold may be set
    expect(connector.depends_on).toContain(`\${oci_identity_policy.mailroute}`);
  });

  it('the function knows both queues by OCID and messages endpoint, and reads its configuration from Vault', () => {
    const fn = resource('oci_functions_function', 'mailroute');
    expect(fn.application_id).toBe(`\${oci_functions_application.mailroute.id}`);
    expect(fn.config).toMatchObject({
      MAILROUTE_CONFIG_OCI_VAULT: `\${oci_vault_secret.config.id}`,
      MAILROUTE_FAILED_QUEUE_ID: `\${oci_queue_queue.failed.id}`,
      MAILROUTE_FAILED_QUEUE_ENDPOINT: `\${oci_queue_queue.failed.messages_endpoint}`,
      MAILROUTE_QUEUE_ID: `\${oci_queue_queue.send.id}`,
      MAILROUTE_QUEUE_ENDPOINT: `\${oci_queue_queue.send.messages_endpoint}`,
      MAILROUTE_HTTP_PATH_PREFIX: `\${var.api_path_prefix}`,
    });
    const matching = resource('oci_identity_dynamic_group', 'function').matching_rule;
    expect(matching).toBe(`ALL {resource.type = 'fnfunc', resource.id = '\${oci_functions_function.mailroute.id}'}`);
  });

  it('API Gateway routes POST /v1/send to the function and refuses anonymous callers (JWT)', () => {
    const spec = single(resource('oci_apigateway_deployment', 'mailroute').specification);
    const route = single(spec.routes);
    expect(route).toMatchObject({ path: '/v1/send', methods: ['POST'] });
    expect(single(route.backend)).toEqual({
      type: 'ORACLE_FUNCTIONS_BACKEND',
      function_id: `\${oci_functions_function.mailroute.id}`,
    });
    const auth = single(single(spec.request_policies).authentication);
    expect(auth).toMatchObject({ type: 'JWT_AUTHENTICATION', is_anonymous_access_allowed: false });
    expect(single(auth.public_keys)).toMatchObject({ type: 'REMOTE_JWKS', uri: `\${var.jwt_jwks_uri}` });
  });

  it('creates the email domain, its DKIM and the approved sender', () => {
    expect(resource('oci_email_email_domain', 'mailroute').name).toBe(`\${var.email_domain}`);
    expect(resource('oci_email_dkim', 'mailroute').email_domain_id).toBe(`\${oci_email_email_domain.mailroute.id}`);
    expect(resource('oci_email_sender', 'mailroute').email_address).toBe(`\${var.sender_address}`);
  });

  it('policies: least privilege, in the compartment only, never manage, never in tenancy', () => {
    const all = statements();
    expect(all.length).toBeGreaterThan(0);
    for (const statement of all) {
      expect(statement).not.toMatch(/\bmanage\b/i);
      expect(statement).not.toMatch(/all-resources/i);
      expect(statement).not.toMatch(/\bin\s+tenancy\b/i);
      expect(statement).toMatch(/ in compartment id \$\{var\.compartment_ocid\}( where |$)/);
      // `any-user` is only ever the principal of a service, named by request.principal.type.
      if (/^allow any-user /.test(statement)) expect(statement).toMatch(/where all \{request\.principal\.type = '/);
      if (/queue/i.test(statement)) expect(statement).toMatch(/target\.queue\.id = '\$\{oci_queue_queue\.send\.id\}'/);
    }
    const fn = `allow dynamic-group \${oci_identity_dynamic_group.function.name} to`;
    const own = all.filter((s) => s.startsWith(fn)).map((s) => s.slice(fn.length).split(' in ')[0]!.trim());
    expect(own).toEqual(['use email-family', 'use queue-push', 'read secret-bundles']);
    const secrets = all.find((s) => s.includes('read secret-bundles'))!;
    expect(secrets).toMatch(
      /where any \{\$\{join\(", ", \[for id in local\.readable_secret_ids : "target\.secret\.id = '\$\{id\}'"\]\)\}\}$/,
    );
    expect(locals.readable_secret_ids).toBe(`\${concat([oci_vault_secret.config.id], values(local.secret_ids))}`);
    const pushes = all.find((s) => s.includes('queue-push'))!;
    expect(pushes).toContain(`target.queue.id = '\${oci_queue_queue.failed.id}'`);
  });

  it('every variable used is declared with a description and documented in the README; every one declared is used', () => {
    const declared = Object.keys(tf.variable);
    const used = usedVariables();
    expect([...used].filter((name) => !declared.includes(name))).toEqual([]);
    expect(declared.filter((name) => !used.has(name))).toEqual([]);
    for (const name of declared) {
      expect(single(tf.variable[name]).description, name).toMatch(/\S{3,}/);
      expect(readme, `README mentions ${name}`).toMatch(new RegExp(`\\b${name}\\b`));
    }
    for (const [name, blocks] of Object.entries((tf.output ?? {}) as Record<string, Block[]>)) {
      expect(single(blocks).description, `output ${name}`).toMatch(/\S{3,}/);
    }
  });
});
