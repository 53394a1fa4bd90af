// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the expected values are Terraform interpolations, as hcl2json writes them
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
/** The entries `KEY = expression` of the function's configuration map (the first argument of its merge()). */
const functionConfig = (): Record<string, string> => {
  const text = resource('oci_functions_function', 'mailroute').config as string;
  const first = /^\$\{merge\(\s*\{([^}]*)\}/.exec(text)?.[1] ?? '';
  return Object.fromEntries([...first.matchAll(/^\s*([A-Z_]+)\s*=\s*(.+?)\s*$/gm)].map((m) => [m[1]!, m[2]!]));
};
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
    // The send queue's connector; the other one carries delivery events (below).
    expect(Object.keys(tf.resource.oci_sch_service_connector ?? {}).sort()).toEqual([
      'email_events_to_function',
      'queue_to_function',
    ]);
    const connector = resource('oci_sch_service_connector', 'queue_to_function');
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
    expect(functionConfig()).toMatchObject({
      MAILROUTE_CONFIG_OCI_VAULT: 'oci_vault_secret.config.id',
      MAILROUTE_FAILED_QUEUE_ID: 'oci_queue_queue.failed.id',
      MAILROUTE_FAILED_QUEUE_ENDPOINT: 'oci_queue_queue.failed.messages_endpoint',
      MAILROUTE_QUEUE_ID: 'oci_queue_queue.send.id',
      MAILROUTE_QUEUE_ENDPOINT: 'oci_queue_queue.send.messages_endpoint',
      MAILROUTE_HTTP_PATH_PREFIX: 'var.api_path_prefix',
    });
    const matching = resource('oci_identity_dynamic_group', 'function').matching_rule;
    expect(matching).toBe(`ALL {resource.type = 'fnfunc', resource.id = '\${oci_functions_function.mailroute.id}'}`);
  });

  it('API Gateway routes POST /v1/send to the function and refuses anonymous callers (JWT)', () => {
    const spec = single(resource('oci_apigateway_deployment', 'mailroute').specification);
    const routes = spec.routes as Block[];
    const send = routes.find((r) => r.path === '/v1/send');
    expect(send).toMatchObject({ path: '/v1/send', methods: ['POST'] });
    expect(single(send!.backend)).toEqual({
      type: 'ORACLE_FUNCTIONS_BACKEND',
      function_id: `\${oci_functions_function.mailroute.id}`,
    });
    // The policy allows anonymous access only so that one route may ask for it: /v1/send says it needs the JWT.
    expect(single(single(send!.request_policies).authorization)).toEqual({ type: 'AUTHENTICATION_ONLY' });
    const auth = single(single(spec.request_policies).authentication);
    expect(auth).toMatchObject({ type: 'JWT_AUTHENTICATION', is_anonymous_access_allowed: true });
    expect(single(auth.public_keys)).toMatchObject({ type: 'REMOTE_JWKS', uri: `\${var.jwt_jwks_uri}` });
  });

  it('API Gateway: GET|POST /v1/unsubscribe is the one anonymous route (the one-click links), to the same function', () => {
    const spec = single(resource('oci_apigateway_deployment', 'mailroute').specification);
    const routes = spec.routes as Block[];
    expect(routes.map((r) => r.path).sort()).toEqual(['/v1/send', '/v1/unsubscribe']);
    // Every route states its authorization (none left to the default); ANONYMOUS on the unsubscribe route only.
    const authorization = Object.fromEntries(
      routes.map((r) => [r.path, single(single(r.request_policies).authorization).type]),
    );
    expect(authorization).toEqual({ '/v1/send': 'AUTHENTICATION_ONLY', '/v1/unsubscribe': 'ANONYMOUS' });
    const unsubscribe = routes.find((r) => r.path === '/v1/unsubscribe')!;
    expect(unsubscribe.methods).toEqual(['GET', 'POST']);
    expect(single(unsubscribe.backend)).toEqual({
      type: 'ORACLE_FUNCTIONS_BACKEND',
      function_id: `\${oci_functions_function.mailroute.id}`,
    });
    const output = single((tf.output as Record<string, Block[]>).unsubscribe_base_url);
    expect(output.value).toBe('${oci_apigateway_deployment.mailroute.endpoint}');
    expect(readme).toContain('unsubscribe_base_url');
    expect(readme).toContain('unsubscribe.baseUrl');
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
    expect(locals.readable_secret_ids).toMatch(
      /^\$\{concat\(\s*\[oci_vault_secret\.config\.id\],\s*values\(local\.secret_ids\),\s*local\.redis_store \? \[local\.redis_url_secret_id\] : \[\],\s*\)\}$/,
    );
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

/**
 * Evaluates a gating expression of the module (booleans, `== null`, `? :`, references to variables, locals, data
 * sources and resource attributes) the way Terraform would, for the given variable values (the rest at their
 * defaults). A resource or data reference stands for itself, as a string. Anything with a function call is refused:
 * only the simple expressions the counts and switches are made of are evaluated here.
 */
function evaluate(expression: string, given: Record<string, unknown>): unknown {
  const inner = /^\$\{([\s\S]*)\}$/.exec(expression)?.[1];
  if (inner === undefined) return expression;
  if (/[A-Za-z0-9_]\s*\(/.test(inner) || /\bfor\b/.test(inner)) throw new Error(`not a simple expression: ${inner}`);
  const js = inner
    .replace(/\bvar\.([a-z_][a-z0-9_]*)/g, (_, name: string) => {
      const declared = tf.variable[name];
      if (!declared) throw new Error(`undeclared variable ${name}`);
      return JSON.stringify(name in given ? given[name] : (single(declared).default ?? null));
    })
    .replace(/\blocal\.([a-z_][a-z0-9_]*)/g, (_, name: string) => {
      if (!(name in locals)) throw new Error(`no local ${name}`);
      return `(${JSON.stringify(evaluate(locals[name]!, given))})`;
    })
    .replace(/\b(data\.)?oci_[a-z0-9_]+\.[a-z0-9_]+(\[\d+\])?(\.[a-z0-9_]+)*/g, (ref) => JSON.stringify(ref));
  return new Function(`return (${js});`)();
}

const dataSource = (type: string, name: string): Block => {
  const block = (tf.data as Record<string, Record<string, Block[]>> | undefined)?.[type]?.[name]?.[0];
  if (!block) throw new Error(`no data source ${type}.${name}`);
  return block;
};
/** What the OCI Cache wiring consists of, and how many of each a plan with these variables makes. */
const REDIS_PARTS = [
  ['data', 'oci_core_subnet', 'function'],
  ['data', 'oci_core_subnet', 'redis'],
  ['resource', 'oci_core_network_security_group', 'redis'],
  ['resource', 'oci_core_network_security_group_security_rule', 'redis_from_function'],
  ['resource', 'oci_redis_redis_cluster', 'state'],
  ['resource', 'oci_vault_secret', 'redis_url'],
] as const;
const counts = (given: Record<string, unknown>) =>
  Object.fromEntries(
    REDIS_PARTS.map(([kind, type, name]) => {
      const block = kind === 'data' ? dataSource(type, name) : resource(type, name);
      return [`${type}.${name}`, Number(evaluate(block.count, given))];
    }),
  );
const EXISTING = 'ocid1.vaultsecret.oc1.eu-frankfurt-1.amaaaaaasharedredisurl';

describe('infra/oci Terraform: the Redis state store (OCI Cache)', () => {
  it('by default: an OCI Cache cluster in the function subnet (or the one given), sized by variables', () => {
    expect(single(tf.variable.redis_enabled)).toMatchObject({ type: '${bool}', default: true });
    const cluster = resource('oci_redis_redis_cluster', 'state');
    expect(cluster).toMatchObject({
      compartment_id: '${var.compartment_ocid}',
      node_count: '${var.redis_node_count}',
      node_memory_in_gbs: '${var.redis_node_memory_gb}',
      software_version: '${var.redis_software_version}',
      subnet_id: '${local.redis_subnet_id}',
      nsg_ids: ['${oci_core_network_security_group.redis[0].id}'],
    });
    expect(evaluate(locals.redis_subnet_id!, {})).toBe(evaluate('${var.function_subnet_id}', {}));
    expect(evaluate(locals.redis_subnet_id!, { function_subnet_id: 'fn', redis_subnet_id: 'cache' })).toBe('cache');
    expect(evaluate(locals.redis_subnet_id!, { function_subnet_id: 'fn' })).toBe('fn');
    expect(counts({})).toEqual(Object.fromEntries(REDIS_PARTS.map(([, t, n]) => [`${t}.${n}`, 1])));
    expect(single(tf.variable.redis_node_count).validation[0].condition).toContain('var.redis_node_count <= 5');
  });

  it("network: the cluster's security group admits TCP 6379 from the function subnet's CIDR, and nothing else", () => {
    expect(dataSource('oci_core_subnet', 'function').subnet_id).toBe('${var.function_subnet_id}');
    expect(dataSource('oci_core_subnet', 'redis').subnet_id).toBe('${local.redis_subnet_id}');
    expect(resource('oci_core_network_security_group', 'redis')).toMatchObject({
      compartment_id: '${var.compartment_ocid}',
      vcn_id: '${data.oci_core_subnet.redis[0].vcn_id}',
    });
    const rules = Object.values(tf.resource.oci_core_network_security_group_security_rule ?? {}).flat();
    expect(rules).toHaveLength(1);
    const rule = rules[0]!;
    expect(rule).toMatchObject({
      network_security_group_id: '${oci_core_network_security_group.redis[0].id}',
      direction: 'INGRESS',
      protocol: '6',
      source_type: 'CIDR_BLOCK',
      source: '${data.oci_core_subnet.function[0].cidr_block}',
      stateless: false,
    });
    expect(single(single(rule.tcp_options).destination_port_range)).toEqual({ min: 6379, max: 6379 });
  });

  it('the URL (rediss://<primary FQDN>:6379: OCI Cache is TLS only) is a base64 Vault secret in the module vault', () => {
    const secret = resource('oci_vault_secret', 'redis_url');
    expect(secret).toMatchObject({
      compartment_id: '${var.compartment_ocid}',
      vault_id: '${var.vault_id}',
      key_id: '${var.vault_key_id}',
      secret_name: '${var.name_prefix}-store-redis-url',
    });
    expect(single(secret.secret_content)).toEqual({
      content_type: 'BASE64',
      content: '${base64encode("rediss://${oci_redis_redis_cluster.state[0].primary_fqdn}:6379")}',
    });
    // The URL never leaves through an output, only the secret's OCID does.
    const outputs = JSON.stringify(tf.output ?? {});
    expect(outputs).not.toMatch(/primary_fqdn|secret_content|base64/);
    expect(outputs).toContain('local.redis_url_secret_id');
  });

  it('the function gets MAILROUTE_STORE_REDIS_URL_SECRET, and may read that one secret by its OCID (no wildcard)', () => {
    const config = resource('oci_functions_function', 'mailroute').config as string;
    expect(config).toContain(
      'local.redis_store ? { MAILROUTE_STORE_REDIS_URL_SECRET = local.redis_url_secret_id } : {}',
    );
    expect(evaluate(locals.redis_url_secret_id!, {})).toBe('oci_vault_secret.redis_url[0].id');
    expect(locals.readable_secret_ids).toContain('local.redis_store ? [local.redis_url_secret_id] : []');
    const all = statements();
    const reads = all.filter((s) => /secret/.test(s));
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatch(/^allow dynamic-group \S+ to read secret-bundles in compartment id \S+ where any \{/);
    for (const statement of all) {
      expect(statement).not.toContain('*');
      expect(statement).not.toMatch(/secret-family|\bvaults\b|redis/i);
    }
  });

  it('an existing URL secret: set as MAILROUTE_STORE_REDIS_URL_SECRET and readable; no cluster, group, rule or secret made', () => {
    const existing = { redis_url_secret_id: EXISTING };
    expect(Object.values(counts(existing))).toEqual(REDIS_PARTS.map(() => 0));
    expect(Object.values(counts({ ...existing, redis_enabled: false }))).toEqual(REDIS_PARTS.map(() => 0));
    expect(evaluate(locals.redis_store!, existing)).toBe(true);
    expect(evaluate(locals.redis_url_secret_id!, existing)).toBe(EXISTING);
    expect(single(tf.variable.redis_url_secret_id).validation[0].condition).toMatch(
      /var\.redis_url_secret_id == null \|\| can\(regex\("\^ocid1\\\\\.vaultsecret\\\\\.", var\.redis_url_secret_id\)\)/,
    );
  });

  it('redis_enabled = false and no URL secret: nothing made, no config key, state per container (as documented)', () => {
    const off = { redis_enabled: false };
    expect(Object.values(counts(off))).toEqual(REDIS_PARTS.map(() => 0));
    expect(evaluate(locals.redis_store!, off)).toBe(false);
    expect(readme).toMatch(/redis_enabled = false/);
    expect(readme).toMatch(/sent twice/);
    expect(readme).toContain('MAILROUTE_STORE_REDIS_URL_SECRET');
    expect(readme).toContain('redis_url_secret_id');
  });
});

describe('infra/oci Terraform: delivery events (Email Delivery logs -> Connector Hub -> the function)', () => {
  const EVENT_PARTS = [
    ['oci_logging_log_group', 'email_events'],
    ['oci_logging_log', 'email_accepted'],
    ['oci_logging_log', 'email_relayed'],
    ['oci_sch_service_connector', 'email_events_to_function'],
  ] as const;
  const eventCounts = (given: Record<string, unknown>) =>
    EVENT_PARTS.map(([type, name]) => Number(evaluate(resource(type, name).count, given)));

  it("by default: the two Email Delivery service logs of the module's email domain, in a log group of their own", () => {
    expect(single(tf.variable.delivery_events)).toMatchObject({ type: '${bool}', default: true });
    expect(eventCounts({})).toEqual([1, 1, 1, 1]);
    expect(eventCounts({ delivery_events: false })).toEqual([0, 0, 0, 0]);
    for (const [name, category] of [
      ['email_accepted', 'outboundaccepted'],
      ['email_relayed', 'outboundrelayed'],
    ] as const) {
      const log = resource('oci_logging_log', name);
      expect(log).toMatchObject({
        log_group_id: '${oci_logging_log_group.email_events[0].id}',
        log_type: 'SERVICE',
        is_enabled: true,
        retention_duration: '${var.events_log_retention_days}',
      });
      expect(single(single(log.configuration).source)).toEqual({
        source_type: 'OCISERVICE',
        service: 'emaildelivery',
        resource: '${local.email_domain_id}',
        category,
      });
    }
    // The module's own email domain unless another is given.
    expect(locals.email_domain_id).toBe(
      '${var.email_domain_id != null ? var.email_domain_id : oci_email_email_domain.mailroute.id}',
    );
    expect(evaluate(locals.email_domain_id!, {})).toBe('oci_email_email_domain.mailroute.id');
    const given = 'ocid1.emaildomain.oc1.eu-frankfurt-1.amaaaaaaotherdomain';
    expect(evaluate(locals.email_domain_id!, { email_domain_id: given })).toBe(given);
    expect(single(tf.variable.email_domain_id).validation[0].condition).toContain('ocid1\\\\.emaildomain');
  });

  it('a connector from both logs to the function, after the policy that lets connectors invoke it', () => {
    const connector = resource('oci_sch_service_connector', 'email_events_to_function');
    const source = single(connector.source);
    expect(source.kind).toBe('logging');
    expect(source.log_sources).toEqual([
      {
        compartment_id: '${var.compartment_ocid}',
        log_group_id: '${oci_logging_log_group.email_events[0].id}',
        log_id: '${oci_logging_log.email_accepted[0].id}',
      },
      {
        compartment_id: '${var.compartment_ocid}',
        log_group_id: '${oci_logging_log_group.email_events[0].id}',
        log_id: '${oci_logging_log.email_relayed[0].id}',
      },
    ]);
    expect(single(connector.target)).toEqual({
      kind: 'functions',
      function_id: '${oci_functions_function.mailroute.id}',
      batch_size_in_num: '${var.events_batch_size}',
      batch_time_in_sec: '${var.connector_batch_seconds}',
    });
    expect(connector.depends_on).toContain('${oci_identity_policy.mailroute}');
    // Connector Hub (connectors of the compartment) may invoke the function: the statements the queue connector uses.
    const all = statements();
    const connectors =
      "request.principal.type = 'serviceconnector', request.principal.compartment.id = '${var.compartment_ocid}'";
    for (const verb of ['use fn-function', 'use fn-invocation']) {
      expect(all).toContain(
        `allow any-user to ${verb} in compartment id \${var.compartment_ocid} where all {${connectors}}`,
      );
    }
  });

  it('the README says there is no dead-letter queue for a functions target, and how to replay from the logs', () => {
    expect(readme).toMatch(/no dead-letter queue/i);
    expect(readme).toContain('events_log_retention_days');
    expect(readme).toMatch(/search-logs/);
  });
});
