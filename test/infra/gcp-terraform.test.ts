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
/** The JSON text of every file, for reference scans (`${var.x}` and friends). */
let text: string;
const readme = readFileSync(join(DIR, 'README.md'), 'utf8');

beforeAll(async () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.tf'));
  const parsed = await Promise.all(files.map(async (f) => parse(f, readFileSync(join(DIR, f), 'utf8'))));
  resources = {};
  variables = {};
  locals = {};
  for (const file of parsed as Block[]) {
    for (const [type, byName] of Object.entries((file.resource ?? {}) as Record<string, Record<string, Block[]>>)) {
      const ofType = resources[type] ?? {};
      for (const [name, [body]] of Object.entries(byName)) ofType[name] = body!;
      resources[type] = ofType;
    }
    for (const [name, [body]] of Object.entries((file.variable ?? {}) as Record<string, Block[]>))
      variables[name] = body!;
    for (const block of (file.locals ?? []) as Block[]) Object.assign(locals, block);
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
    for (const fn of ['queue', 'http']) {
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
    expect(secret.for_each).toBe('${local.secret_env_names}');
    expect(resource('google_secret_manager_secret_iam_member', 'runtime_reads')).toMatchObject({
      for_each: '${google_secret_manager_secret.env}',
      secret_id: '${each.value.secret_id}',
      role: 'roles/secretmanager.secretAccessor',
      member: 'serviceAccount:${google_service_account.runtime.email}',
    });
    for (const fn of ['queue', 'http']) {
      const [dynamic] = resource('google_cloudfunctions2_function', fn).service_config[0].dynamic
        .secret_environment_variables;
      expect(dynamic.for_each).toBe('${google_secret_manager_secret.env}');
      expect(dynamic.content[0]).toMatchObject({
        key: '${secret_environment_variables.key}',
        secret: '${secret_environment_variables.value.secret_id}',
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
      'google_service_account_iam_member.pubsub_agent_signs_for_trigger': 'roles/iam.serviceAccountTokenCreator',
      'google_cloud_run_service_iam_member.trigger_invokes_queue': 'roles/run.invoker',
      'google_cloud_run_service_iam_member.http_invokers': 'roles/run.invoker',
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

  it('no allUsers or allAuthenticatedUsers: IAM-only invocation, and the variables refuse them', () => {
    for (const { at, member } of bindings())
      expect(JSON.stringify(member), at).not.toMatch(/allUsers|allAuthenticatedUsers/);
    for (const name of ['http_invoker_members', 'producer_members']) {
      expect(variables[name]!.validation[0].condition).toMatch(
        /!contains\(\["allUsers", "allAuthenticatedUsers"\], m\)/,
      );
    }
    expect(readme).toContain('--no-allow-unauthenticated');
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
