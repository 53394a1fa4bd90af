// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the expected values are Terraform interpolations, as hcl2json writes them
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';

// Parses every .tf file of infra/gcp with hcl2json (HCL → the JSON form Terraform itself reads) and checks the
// wiring. No provider is downloaded, so no `terraform validate` here: see infra/gcp/README.md.

const DIR = fileURLToPath(new URL('../../infra/gcp/', import.meta.url));
// biome-ignore lint/suspicious/noExplicitAny: parsed HCL, whose shape the assertions themselves check
type Block = Record<string, any>;

let resources: Record<string, Record<string, Block>>;
let variables: Record<string, Block>;
let locals: Block;
let outputs: Record<string, Block>;
/** The JSON text of every file, for reference scans (`${var.x}` and friends). */
let text: string;
const readme = readFileSync(join(DIR, 'README.md'), 'utf8');

beforeAll(async () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.tf'));
  const parsed = await Promise.all(files.map(async (f) => parse(f, readFileSync(join(DIR, f), 'utf8'))));
  resources = {};
  variables = {};
  locals = {};
  outputs = {};
  for (const file of parsed as Block[]) {
    for (const [type, byName] of Object.entries((file.resource ?? {}) as Record<string, Record<string, Block[]>>)) {
      const ofType = resources[type] ?? {};
      for (const [name, [body]] of Object.entries(byName)) ofType[name] = body!;
      resources[type] = ofType;
    }
    for (const [name, [body]] of Object.entries((file.variable ?? {}) as Record<string, Block[]>))
      variables[name] = body!;
    for (const block of (file.locals ?? []) as Block[]) Object.assign(locals, block);
    for (const [name, [body]] of Object.entries((file.output ?? {}) as Record<string, Block[]>)) outputs[name] = body!;
  }
  text = JSON.stringify(parsed);
});

const resource = (type: string, name: string) => {
  const found = resources[type]?.[name];
  if (!found) throw new Error(`no resource ${type}.${name}`);
  return found;
};
/** Every IAM member binding of any kind: [type.name, role, member]. */
const bindings = () =>
  Object.entries(resources)
    .filter(([type]) => /_iam_(member|binding|policy)$/.test(type))
    .flatMap(([type, byName]) =>
      Object.entries(byName).map(([name, body]) => ({
        at: `${type}.${name}`,
        role: body.role,
        member: body.member ?? body.members,
        body,
      })),
    );

describe('infra/gcp Terraform', () => {
  it('pins the google provider ~> 6', async () => {
    expect(text).toContain('"source":"hashicorp/google","version":"~> 6.0"');
  });

  it('the queue function is triggered by the send topic with retries, on nodejs22, as the trigger account', () => {
    const queue = resource('google_cloudfunctions2_function', 'queue');
    const [trigger] = queue.event_trigger;
    expect(trigger).toMatchObject({
      event_type: 'google.cloud.pubsub.topic.v1.messagePublished',
      pubsub_topic: '${google_pubsub_topic.send.id}',
      retry_policy: 'RETRY_POLICY_RETRY',
      service_account_email: '${google_service_account.trigger.email}',
    });
    expect(queue.build_config[0]).toMatchObject({ runtime: 'nodejs22', entry_point: 'mailrouteQueue' });
    const [service] = queue.service_config;
    expect(service.service_account_email).toBe('${google_service_account.runtime.email}');
    expect(service.ingress_settings).toBe('ALLOW_INTERNAL_ONLY');
    expect(service.environment_variables).toContain('MAILROUTE_FAILED_TOPIC = google_pubsub_topic.failed.id');
    expect(service.environment_variables).toContain('local.common_env');
    expect(locals.common_env).toMatch(/MAILROUTE_CONFIG\s*=\s*local\.config_text/);
    expect(locals.common_env).toMatch(/MAILROUTE_TIMEOUT_SECONDS\s*=\s*tostring\(var\.timeout_seconds\)/);
    expect(service.timeout_seconds).toBe('${var.timeout_seconds}');
  });

  it('the HTTP function: nodejs22, its entry point, the send topic for enqueue, and no event trigger', () => {
    const http = resource('google_cloudfunctions2_function', 'http');
    expect(http.event_trigger).toBeUndefined();
    expect(http.build_config[0]).toMatchObject({ runtime: 'nodejs22', entry_point: 'mailrouteHttp' });
    expect(http.service_config[0].ingress_settings).toBe('${var.http_ingress}');
    expect(http.service_config[0].environment_variables).toContain(
      'MAILROUTE_SEND_TOPIC = google_pubsub_topic.send.id',
    );
    for (const fn of ['queue', 'http', 'unsubscribe']) {
      expect(resource('google_cloudfunctions2_function', fn).build_config[0].source[0].storage_source[0]).toEqual({
        bucket: '${google_storage_bucket.source.name}',
        object: '${google_storage_bucket_object.source.name}',
      });
    }
    expect(resource('google_storage_bucket_object', 'source').name).toContain('filemd5(var.source_zip)');
    expect(resource('google_storage_bucket', 'source')).toMatchObject({
      uniform_bucket_level_access: true,
      public_access_prevention: 'enforced',
    });
  });

  it('send, failed and dead-letter topics exist; failed and dead-letter messages are kept by a subscription', () => {
    for (const name of ['send', 'failed', 'dead_letter']) expect(resource('google_pubsub_topic', name)).toBeDefined();
    expect(resource('google_pubsub_subscription', 'failed').topic).toBe('${google_pubsub_topic.failed.id}');
    expect(resource('google_pubsub_subscription', 'dead_letter').topic).toBe('${google_pubsub_topic.dead_letter.id}');
    // Pub/Sub itself moves messages to the dead-letter topic: its agent publishes there.
    expect(resource('google_pubsub_topic_iam_member', 'pubsub_agent_publishes_dead_letters')).toMatchObject({
      topic: '${google_pubsub_topic.dead_letter.name}',
      role: 'roles/pubsub.publisher',
      member: 'serviceAccount:${local.pubsub_agent}',
    });
  });

  it('the dead-letter policy on the Eventarc subscription: run by gcloud during apply, and documented', () => {
    const step = resource('terraform_data', 'dead_letter_policy');
    expect(step.count).toBe('${var.dead_letter_via_gcloud ? 1 : 0}');
    expect(step.triggers_replace).toContain('${google_cloudfunctions2_function.queue.event_trigger[0].trigger}');
    const [exec] = step.provisioner['local-exec'];
    expect(exec.command).toMatch(
      /gcloud eventarc triggers describe "\$TRIGGER" --format='value\(transport\.pubsub\.subscription\)'/,
    );
    expect(exec.command).toMatch(
      /gcloud pubsub subscriptions update "\$SUBSCRIPTION" --dead-letter-topic="\$DEAD_LETTER_TOPIC"/,
    );
    expect(exec.command).toMatch(/--max-delivery-attempts="\$MAX_DELIVERY_ATTEMPTS"/);
    expect(exec.command).toMatch(/add-iam-policy-binding "\$SUBSCRIPTION".*\n?.*--role=roles\/pubsub\.subscriber/);
    expect(exec.environment).toMatchObject({
      TRIGGER: '${google_cloudfunctions2_function.queue.event_trigger[0].trigger}',
      DEAD_LETTER_TOPIC: '${google_pubsub_topic.dead_letter.id}',
    });
    // The same commands, for a person, in the README.
    expect(readme).toMatch(
      /gcloud eventarc triggers describe "\$TRIGGER" --format='value\(transport\.pubsub\.subscription\)'/,
    );
    expect(readme).toMatch(/gcloud pubsub subscriptions update "\$SUBSCRIPTION" --dead-letter-topic=/);
    expect(readme).toMatch(/--max-delivery-attempts=5/);
    expect(readme).toMatch(/--role=roles\/pubsub\.subscriber/);
  });

  it('secrets: one Secret Manager secret per variable, mounted as that variable, readable by the runtime account only', () => {
    const secret = resource('google_secret_manager_secret', 'env');
    expect(locals.mounted_secrets).toContain(
      '{ for name, secret in google_secret_manager_secret.env : name => secret.secret_id }',
    );
    expect(secret.for_each).toBe('${local.secret_env_names}');
    expect(resource('google_secret_manager_secret_iam_member', 'runtime_reads')).toMatchObject({
      for_each: '${google_secret_manager_secret.env}',
      secret_id: '${each.value.secret_id}',
      role: 'roles/secretmanager.secretAccessor',
      member: 'serviceAccount:${google_service_account.runtime.email}',
    });
    for (const fn of ['queue', 'http', 'unsubscribe']) {
      const [dynamic] = resource('google_cloudfunctions2_function', fn).service_config[0].dynamic
        .secret_environment_variables;
      expect(dynamic.for_each).toBe('${local.mounted_secrets}');
      expect(dynamic.content[0]).toMatchObject({
        key: '${secret_environment_variables.key}',
        project_id: '${var.project_id}',
        secret: '${secret_environment_variables.value}',
        version: 'latest',
      });
    }
    // The default Gmail configuration refers to its secrets by environment variable, never by value.
    expect(locals.gmail_relay).toContain('password = { env = "GMAIL_RELAY_PASSWORD" }');
    expect(locals.gmail_api).toMatchObject({ serviceAccount: { privateKey: { env: 'GMAIL_SA_PRIVATE_KEY' } } });
    expect(locals.gmail_secret_env_names).toMatch(/GMAIL_SA_PRIVATE_KEY.*GMAIL_RELAY_PASSWORD/);
  });

  it('least privilege: no primitive role, no project-wide grant, every grant on one resource of this module', () => {
    const all = bindings();
    expect(all.length).toBeGreaterThanOrEqual(7);
    for (const { at, role } of all) expect(role, at).not.toMatch(/^roles\/(owner|editor|viewer)$/);
    expect(text).not.toMatch(/roles\/(owner|editor|viewer)\b/);
    expect(Object.keys(resources).filter((t) => /^google_(project|folder|organization)_iam/.test(t))).toEqual([]);
    const grants = Object.fromEntries(all.map((b) => [b.at, b.role]));
    expect(grants).toEqual({
      'google_pubsub_topic_iam_member.runtime_publishes_failed': 'roles/pubsub.publisher',
      'google_pubsub_topic_iam_member.runtime_publishes_send': 'roles/pubsub.publisher',
      'google_pubsub_topic_iam_member.producers_publish_send': 'roles/pubsub.publisher',
      'google_pubsub_topic_iam_member.pubsub_agent_publishes_dead_letters': 'roles/pubsub.publisher',
      'google_secret_manager_secret_iam_member.runtime_reads': 'roles/secretmanager.secretAccessor',
      'google_secret_manager_secret_iam_member.runtime_reads_redis_url': 'roles/secretmanager.secretAccessor',
      'google_secret_manager_secret_iam_member.runtime_reads_redis_ca': 'roles/secretmanager.secretAccessor',
      'google_service_account_iam_member.pubsub_agent_signs_for_trigger': 'roles/iam.serviceAccountTokenCreator',
      'google_cloud_run_service_iam_member.trigger_invokes_queue': 'roles/run.invoker',
      'google_cloud_run_service_iam_member.http_invokers': 'roles/run.invoker',
      'google_cloud_run_service_iam_member.unsubscribe_public': 'roles/run.invoker',
    });
    expect(resource('google_pubsub_topic_iam_member', 'runtime_publishes_failed').topic).toBe(
      '${google_pubsub_topic.failed.name}',
    );
    expect(resource('google_pubsub_topic_iam_member', 'runtime_publishes_send').topic).toBe(
      '${google_pubsub_topic.send.name}',
    );
    expect(resource('google_cloud_run_service_iam_member', 'trigger_invokes_queue').service).toBe(
      '${google_cloudfunctions2_function.queue.name}',
    );
    expect(resource('google_cloud_run_service_iam_member', 'http_invokers').service).toBe(
      '${google_cloudfunctions2_function.http.name}',
    );
  });

  it('no allUsers or allAuthenticatedUsers but on the optional unsubscribe entry: IAM-only invocation, and the variables refuse them', () => {
    for (const { at, member } of bindings()) {
      if (at === 'google_cloud_run_service_iam_member.unsubscribe_public') continue;
      expect(JSON.stringify(member), at).not.toMatch(/allUsers|allAuthenticatedUsers/);
    }
    for (const name of ['http_invoker_members', 'producer_members']) {
      expect(variables[name]!.validation[0].condition).toMatch(
        /!contains\(\["allUsers", "allAuthenticatedUsers"\], m\)/,
      );
    }
    expect(readme).toContain('--no-allow-unauthenticated');
  });

  it('the public unsubscribe entry: off by default; when on, its own function serving /v1/unsubscribe, allUsers on it alone', () => {
    expect(variables.public_unsubscribe).toMatchObject({ type: '${bool}', default: false });
    const fn = resource('google_cloudfunctions2_function', 'unsubscribe');
    const publicBinding = resource('google_cloud_run_service_iam_member', 'unsubscribe_public');
    for (const gated of [fn, publicBinding]) {
      expect(gated.count).toBe('${var.public_unsubscribe ? 1 : 0}');
      expect(evaluate(gated.count, {})).toBe(0);
      expect(evaluate(gated.count, { public_unsubscribe: true })).toBe(1);
    }
    expect(publicBinding).toEqual({
      count: publicBinding.count,
      project: '${var.project_id}',
      location: '${var.region}',
      service: '${google_cloudfunctions2_function.unsubscribe[0].name}',
      role: 'roles/run.invoker',
      member: 'allUsers',
    });
    // The entry point that 404s every path but /v1/unsubscribe; no send topic, so no enqueue; the same source,
    // runtime account, store and secrets as the http function.
    expect(fn.event_trigger).toBeUndefined();
    expect(fn.build_config[0]).toMatchObject({ runtime: 'nodejs22', entry_point: 'mailrouteUnsubscribe' });
    expect(fn.build_config[0].source[0].storage_source[0]).toEqual({
      bucket: '${google_storage_bucket.source.name}',
      object: '${google_storage_bucket_object.source.name}',
    });
    const [service] = fn.service_config;
    expect(service.service_account_email).toBe('${google_service_account.runtime.email}');
    expect(service.environment_variables).toBe('${local.common_env}');
    expect(JSON.stringify(service)).not.toContain('MAILROUTE_SEND_TOPIC');
    expect(service.dynamic.secret_environment_variables[0].for_each).toBe('${local.mounted_secrets}');
    expect(evaluate(service.vpc_connector, {})).toBe('google_vpc_access_connector.redis[0].id');
    // The http function stays IAM-only whatever the variable says.
    expect(JSON.stringify(resource('google_cloudfunctions2_function', 'http'))).not.toContain('public_unsubscribe');
    expect(JSON.stringify(resource('google_cloud_run_service_iam_member', 'http_invokers'))).not.toContain('allUsers');
    expect(outputs.unsubscribe_base_url!.value).toBe(
      '${var.public_unsubscribe ? google_cloudfunctions2_function.unsubscribe[0].service_config[0].uri : null}',
    );
    expect(readme).toContain('public_unsubscribe = true');
    expect(readme).toContain('--allow-unauthenticated');
    expect(readme).toContain('unsubscribe.baseUrl');
  });

  it('every variable used is declared, described and in the README; every declared variable is used', () => {
    const used = new Set([...text.matchAll(/\bvar\.([a-z_][a-z0-9_]*)/g)].map((m) => m[1]!));
    const declared = Object.keys(variables);
    expect([...used].filter((v) => !declared.includes(v))).toEqual([]);
    expect(declared.filter((v) => !used.has(v))).toEqual([]);
    for (const name of declared) {
      expect(variables[name]!.description, name).toMatch(/\S{3,}/);
      expect(readme, `README names ${name}`).toContain(`\`${name}\``);
    }
  });
});

/**
 * Evaluates a gating expression of the module (booleans, `== null`, `? :`, references to variables, locals and
 * resource attributes) the way Terraform would, for the given variable values (the rest at their defaults). A
 * resource reference stands for itself, as a string. Anything with a function call is refused: only the simple
 * expressions the counts and switches are made of are evaluated here.
 */
function evaluate(expression: string, given: Record<string, unknown>): unknown {
  const inner = /^\$\{([\s\S]*)\}$/.exec(expression)?.[1];
  if (inner === undefined) return expression;
  if (/[A-Za-z0-9_]\s*\(/.test(inner) || /\bfor\b/.test(inner)) throw new Error(`not a simple expression: ${inner}`);
  const js = inner
    .replace(/\bvar\.([a-z_][a-z0-9_]*)/g, (_, name: string) => {
      if (!(name in variables)) throw new Error(`undeclared variable ${name}`);
      return JSON.stringify(name in given ? given[name] : (variables[name]!.default ?? null));
    })
    .replace(/\blocal\.([a-z_][a-z0-9_]*)/g, (_, name: string) => {
      if (!(name in locals)) throw new Error(`no local ${name}`);
      return `(${JSON.stringify(evaluate(locals[name], given))})`;
    })
    .replace(/\bgoogle_[a-z0-9_]+\.[a-z0-9_]+(\[\d+\])?(\.[a-z0-9_]+)*/g, (ref) => JSON.stringify(ref));
  return new Function(`return (${js});`)();
}

/** Redis resources of the module and how many of each a plan with these variables makes. */
const REDIS_RESOURCES = [
  ['google_redis_instance', 'state'],
  ['google_vpc_access_connector', 'redis'],
  ['google_secret_manager_secret', 'redis_url'],
  ['google_secret_manager_secret_version', 'redis_url'],
  ['google_secret_manager_secret', 'redis_ca'],
  ['google_secret_manager_secret_version', 'redis_ca'],
  ['google_secret_manager_secret_iam_member', 'runtime_reads_redis_url'],
  ['google_secret_manager_secret_iam_member', 'runtime_reads_redis_ca'],
] as const;
const counts = (given: Record<string, unknown>) =>
  Object.fromEntries(
    REDIS_RESOURCES.map(([type, name]) => [`${type}.${name}`, Number(evaluate(resource(type, name).count, given))]),
  );

describe('infra/gcp Terraform: the Redis state store', () => {
  it('by default: a Memorystore instance with AUTH and TLS, STANDARD_HA, on the project VPC network', () => {
    expect(variables.redis_enabled).toMatchObject({ type: '${bool}', default: true });
    expect(variables.redis_tier!.default).toBe('STANDARD_HA');
    expect(variables.redis_tier!.validation[0].condition).toContain(
      'contains(["STANDARD_HA", "BASIC"], var.redis_tier)',
    );
    const redis = resource('google_redis_instance', 'state');
    expect(redis).toMatchObject({
      project: '${var.project_id}',
      region: '${var.region}',
      tier: '${var.redis_tier}',
      memory_size_gb: '${var.redis_memory_size_gb}',
      redis_version: '${var.redis_version}',
      authorized_network: 'projects/${var.project_id}/global/networks/${var.vpc_network}',
      auth_enabled: true,
      transit_encryption_mode: 'SERVER_AUTHENTICATION',
    });
    expect(redis.lifecycle[0].precondition[0].condition).toBe('${var.vpc_connector_cidr != null}');
    expect(counts({})).toEqual(Object.fromEntries(REDIS_RESOURCES.map(([t, n]) => [`${t}.${n}`, 1])));
  });

  it('the URL (rediss://:<AUTH string>@host:port) and the server CA each go into a secret version of their own', () => {
    const url = resource('google_secret_manager_secret_version', 'redis_url');
    expect(url.secret).toBe('${google_secret_manager_secret.redis_url[0].id}');
    expect(url.secret_data).toBe(
      'rediss://:${urlencode(google_redis_instance.state[0].auth_string)}@${google_redis_instance.state[0].host}:${google_redis_instance.state[0].port}',
    );
    const ca = resource('google_secret_manager_secret_version', 'redis_ca');
    expect(ca.secret).toBe('${google_secret_manager_secret.redis_ca[0].id}');
    expect(ca.secret_data).toContain('google_redis_instance.state[0].server_ca_certs[*].cert');
    for (const name of ['redis_url', 'redis_ca']) {
      expect(resource('google_secret_manager_secret', name).secret_id).toMatch(/^\$\{var\.name_prefix\}-store-redis-/);
    }
    // Neither the AUTH string nor the URL leaves through an output.
    expect(JSON.stringify(outputs)).not.toMatch(/auth_string|secret_data|server_ca_certs/);
  });

  it('both functions: the URL secret mounted as MAILROUTE_STORE_REDIS_URL, the CA as a file for Node, private-range egress through the connector', () => {
    expect(locals.mounted_secrets).toContain(
      'local.redis_store ? { MAILROUTE_STORE_REDIS_URL = local.redis_url_secret } : {}',
    );
    expect(locals.redis_url_secret).toBe(
      '${local.redis_create ? google_secret_manager_secret.redis_url[0].secret_id : var.redis_url_secret_id}',
    );
    expect(locals.common_env).toContain(
      'local.redis_ca ? { NODE_EXTRA_CA_CERTS = "${local.redis_ca_dir}/${local.redis_ca_file}" } : {}',
    );
    for (const fn of ['queue', 'http', 'unsubscribe']) {
      const function_ = resource('google_cloudfunctions2_function', fn);
      const [service] = function_.service_config;
      expect(evaluate(service.vpc_connector, {})).toBe('google_vpc_access_connector.redis[0].id');
      expect(evaluate(service.vpc_connector_egress_settings, {})).toBe('PRIVATE_RANGES_ONLY');
      expect(evaluate(service.vpc_connector, { vpc_connector_cidr: null, redis_url_secret_id: 'r' })).toBeNull();
      const [volume] = service.dynamic.secret_volumes;
      expect(volume.for_each).toBe('${local.redis_ca ? [local.redis_ca_secret] : []}');
      expect(volume.content[0]).toMatchObject({
        mount_path: '${local.redis_ca_dir}',
        secret: '${secret_volumes.value}',
        versions: [{ version: 'latest', path: '${local.redis_ca_file}' }],
      });
      // The function deploys only once the secrets have a version and the runtime account may read them.
      for (const dependency of [
        'google_secret_manager_secret_iam_member.runtime_reads_redis_url',
        'google_secret_manager_secret_iam_member.runtime_reads_redis_ca',
        'google_secret_manager_secret_version.redis_url',
        'google_secret_manager_secret_version.redis_ca',
      ]) {
        expect(function_.depends_on, `${fn} depends on ${dependency}`).toContain(`\${${dependency}}`);
      }
    }
    const connector = resource('google_vpc_access_connector', 'redis');
    expect(connector).toMatchObject({
      region: '${var.region}',
      network: '${var.vpc_network}',
      ip_cidr_range: '${var.vpc_connector_cidr}',
    });
    expect(variables.vpc_connector_cidr!.default).toMatch(/^\d+\.\d+\.\d+\.\d+\/28$/);
  });

  it('IAM: the runtime account reads the URL secret and the CA secret, each by a binding on that one secret', () => {
    const url = resource('google_secret_manager_secret_iam_member', 'runtime_reads_redis_url');
    const ca = resource('google_secret_manager_secret_iam_member', 'runtime_reads_redis_ca');
    for (const [binding, secret] of [
      [url, '${local.redis_url_secret}'],
      [ca, '${local.redis_ca_secret}'],
    ] as const) {
      expect(binding).toEqual({
        count: binding.count,
        project: '${var.project_id}',
        secret_id: secret,
        role: 'roles/secretmanager.secretAccessor',
        member: 'serviceAccount:${google_service_account.runtime.email}',
      });
    }
    // No wildcard, no condition-less project grant for secrets anywhere.
    for (const { at, body } of bindings()) {
      expect(JSON.stringify(body), at).not.toContain('*');
      expect(body.condition, at).toBeUndefined();
    }
    expect(text).not.toMatch(/google_project_iam|roles\/secretmanager\.admin/);
  });

  it('an existing URL secret: mounted and granted; no instance, no secret, no version made (a connector only with a CIDR)', () => {
    const existing = { redis_url_secret_id: 'shared-redis-url' };
    expect(counts(existing)).toEqual({
      'google_redis_instance.state': 0,
      'google_vpc_access_connector.redis': 1,
      'google_secret_manager_secret.redis_url': 0,
      'google_secret_manager_secret_version.redis_url': 0,
      'google_secret_manager_secret.redis_ca': 0,
      'google_secret_manager_secret_version.redis_ca': 0,
      'google_secret_manager_secret_iam_member.runtime_reads_redis_url': 1,
      'google_secret_manager_secret_iam_member.runtime_reads_redis_ca': 0,
    });
    expect(evaluate(locals.redis_store, existing)).toBe(true);
    expect(evaluate(locals.redis_url_secret, existing)).toBe('shared-redis-url');
    // The same with redis_enabled false: the given secret is what counts.
    expect(counts({ ...existing, redis_enabled: false })).toEqual(counts(existing));
    // A Redis reachable without the VPC: no connector, direct egress.
    const open = { ...existing, vpc_connector_cidr: null };
    expect(counts(open)['google_vpc_access_connector.redis']).toBe(0);
    // An existing Memorystore with TLS: its CA secret mounted and granted, still nothing created.
    const withCa = { ...existing, redis_ca_secret_id: 'shared-redis-ca' };
    expect(counts(withCa)).toMatchObject({
      'google_secret_manager_secret.redis_ca': 0,
      'google_secret_manager_secret_iam_member.runtime_reads_redis_ca': 1,
    });
    expect(evaluate(locals.redis_ca_secret, withCa)).toBe('shared-redis-ca');
    for (const name of ['redis_url_secret_id', 'redis_ca_secret_id']) {
      expect(variables[name]!.default).toBeNull();
      expect(variables[name]!.validation[0].condition).toContain(`var.${name} == null ||`);
    }
  });

  it('redis_enabled = false and no URL secret: nothing Redis-related at all (state per instance, as documented)', () => {
    const off = { redis_enabled: false };
    expect(Object.values(counts(off))).toEqual(REDIS_RESOURCES.map(() => 0));
    expect(evaluate(locals.redis_store, off)).toBe(false);
    expect(evaluate(locals.redis_vpc_access, off)).toBe(false);
    expect(evaluate(locals.redis_ca, off)).toBe(false);
    expect(readme).toMatch(/redis_enabled = false/);
    expect(readme).toMatch(/sent twice|sends? .*twice/);
  });

  it('outputs name the URL secret, the instance and the connector, and the README shows how to use an existing Redis', () => {
    expect(outputs.redis_url_secret!.value).toBe('${local.redis_store ? local.redis_url_secret : null}');
    expect(outputs.redis_instance!.value).toBe('${local.redis_create ? google_redis_instance.state[0].id : null}');
    expect(outputs.vpc_connector!.value).toContain('google_vpc_access_connector.redis[0].id');
    expect(readme).toContain('redis_url_secret_id');
    expect(readme).toContain('MAILROUTE_STORE_REDIS_URL');
    expect(readme).toMatch(/gcloud services enable[^`]*redis\.googleapis\.com/);
    expect(readme).toMatch(/gcloud services enable[^`]*vpcaccess\.googleapis\.com/);
  });
});
