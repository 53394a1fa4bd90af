import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ACS_EVENT_TYPES,
  ACS_EVENTS_FUNCTION,
  FAILED_QUEUE_SETTING,
  HTTP_ROUTES,
  PUBLIC_HTTP_ROUTES,
  SEND_QUEUE_SETTING,
  SEND_QUEUE_TRIGGER,
  STORAGE_CONNECTION,
} from '../../functions/azure/bindings.ts';
import host from '../../functions/azure/host.json' with { type: 'json' };

// Parses every .tf file of infra/azure (offline: no provider, no account) and checks the wiring between the
// Terraform, the function code's bindings and host.json.

const DIR = fileURLToPath(new URL('../../infra/azure/', import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: parsed HCL, whose shape the assertions themselves check
type Block = Record<string, any>;
interface Module {
  resource: Record<string, Record<string, Block[]>>;
  variable: Record<string, Block[]>;
  output: Record<string, Block[]>;
  locals: Block[];
  data: Record<string, Record<string, Block[]>>;
}

let tf: Module;
/** The text of each .tf file, by name. */
let sources: Record<string, string>;
let readme: string;

beforeAll(async () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.tf'));
  sources = Object.fromEntries(files.map((f) => [f, readFileSync(join(DIR, f), 'utf8')]));
  tf = { resource: {}, variable: {}, output: {}, locals: [], data: {} };
  for (const [file, text] of Object.entries(sources)) {
    const parsed = (await parse(file, text)) as Partial<Module>;
    for (const [type, byName] of Object.entries(parsed.resource ?? {}))
      tf.resource[type] = { ...tf.resource[type], ...byName };
    for (const [type, byName] of Object.entries(parsed.data ?? {})) tf.data[type] = { ...tf.data[type], ...byName };
    Object.assign(tf.variable, parsed.variable ?? {});
    Object.assign(tf.output, parsed.output ?? {});
    tf.locals.push(...(parsed.locals ?? []));
  }
  readme = readFileSync(join(DIR, 'README.md'), 'utf8');
});

const resource = (type: string, name: string): Block => {
  const block = tf.resource[type]?.[name]?.[0];
  if (!block) throw new Error(`no resource ${type}.${name}`);
  return block;
};
const local = (name: string) => tf.locals.find((l) => name in l)?.[name];
const ref = (address: string) => `\${${address}}`;
const functionApp = () => resource('azurerm_function_app_flex_consumption', 'main');
const appSettings = (): Record<string, string> => local('app_settings');

describe('infra/azure Terraform', () => {
  it('the queue trigger reads the send queue Terraform creates, in the account its connection names', () => {
    // The code: queueName "%MAILROUTE_SEND_QUEUE%" on connection AzureWebJobsStorage.
    expect(SEND_QUEUE_TRIGGER).toEqual({ queueName: `%${SEND_QUEUE_SETTING}%`, connection: STORAGE_CONNECTION });
    // The app: those settings, through the merged map the function app is given.
    expect(functionApp().app_settings).toBe(ref('merge(local.app_settings, local.secret_settings)'));
    const settings = appSettings();
    expect(settings[SEND_QUEUE_SETTING]).toBe(ref('azurerm_storage_queue.send.name'));
    expect(settings[`${STORAGE_CONNECTION}__accountName`]).toBe(ref('azurerm_storage_account.main.name'));
    expect(settings[`${STORAGE_CONNECTION}__credential`]).toBe('managedidentity');
    // No account key or connection string: the identity reaches the storage.
    expect(settings[STORAGE_CONNECTION]).toBeUndefined();
    expect(JSON.stringify(tf)).not.toMatch(
      /azurerm_storage_account\.main\.(primary|secondary)_(access_key|connection_string)/,
    );
    // The queue exists, in that account.
    expect(resource('azurerm_storage_queue', 'send')).toEqual({
      name: ref('local.send_queue_name'),
      storage_account_id: ref('azurerm_storage_account.main.id'),
    });
    // Nothing overrides host.json's queue settings from the app settings.
    expect(Object.keys(settings).filter((k) => k.startsWith('AzureFunctionsJobHost__'))).toEqual([]);
  });

  it('the failed queue exists and the function is told its name; the poison queue is left to the host', () => {
    expect(resource('azurerm_storage_queue', 'failed').storage_account_id).toBe(ref('azurerm_storage_account.main.id'));
    expect(appSettings()[FAILED_QUEUE_SETTING]).toBe(ref('azurerm_storage_queue.failed.name'));
    expect(Object.keys(tf.resource.azurerm_storage_queue ?? {}).sort()).toEqual(['failed', 'send']);
    expect(tf.output.poison_queue_name?.[0]?.value).toBe(`${ref('azurerm_storage_queue.send.name')}-poison`);
  });

  it("host.json bounds concurrency for the provider's rate and gives up after a few dequeues", () => {
    const { queues, http } = host.extensions;
    // Sends in flight per instance = batchSize + newBatchThreshold: small, because ACS allows 30 a minute.
    expect(queues.batchSize + queues.newBatchThreshold).toBeLessThanOrEqual(8);
    expect(queues.newBatchThreshold).toBeLessThan(queues.batchSize);
    expect(queues.maxDequeueCount).toBeGreaterThanOrEqual(3);
    expect(queues.maxDequeueCount).toBeLessThanOrEqual(10);
    const seconds = (t: string) => t.split(':').reduce((s, p) => s * 60 + Number(p), 0);
    // A retry waits for a per-minute quota window to refill.
    expect(seconds(queues.visibilityTimeout)).toBeGreaterThanOrEqual(60);
    expect(seconds(queues.maxPollingInterval)).toBeLessThanOrEqual(60);
    expect(queues.messageEncoding).toBe('base64');
    expect(http.routePrefix).toBe('');
    // The send deadline is functionTimeout less a 10 s margin: there must be time left.
    expect(seconds(host.functionTimeout)).toBeGreaterThan(60);
  });

  it('the state table and the configuration reach the function; secrets are Key Vault references', () => {
    const settings = appSettings();
    expect(settings.MAILROUTE_STORE_TABLE).toBe(ref('azurerm_storage_table.state.name'));
    expect(resource('azurerm_storage_table', 'state').storage_account_name).toBe(
      ref('azurerm_storage_account.main.name'),
    );
    expect(settings.MAILROUTE_CONFIG).toBe(ref('coalesce(var.mailroute_config, local.default_config)'));
    expect(settings.ACS_CONNECTION_STRING).toBe(
      `@Microsoft.KeyVault(SecretUri=${ref('azurerm_key_vault_secret.acs_connection_string.versionless_id')})`,
    );
    expect(local('secret_settings')).toMatch(
      /@Microsoft\.KeyVault\(SecretUri=\$\{azurerm_key_vault_secret\.extra\[name\]\.versionless_id\}\)/,
    );
    // The default configuration reads the connection string from that setting.
    expect(local('default_config')).toContain('env = "ACS_CONNECTION_STRING"');
    // Secret values come from a resource attribute or the sensitive variable, never a literal.
    expect(resource('azurerm_key_vault_secret', 'acs_connection_string').value).toBe(
      ref('azurerm_communication_service.main.primary_connection_string'),
    );
    expect(resource('azurerm_key_vault_secret', 'extra').value).toBe(ref('var.secrets[each.key]'));
    expect(tf.variable.secrets?.[0]?.sensitive).toBe(true);
    expect(resource('azurerm_key_vault', 'main').enable_rbac_authorization).toBe(true);
  });

  it('the function app: Flex Consumption, Linux, Node 22, system-assigned identity, HTTPS only', () => {
    const app = functionApp();
    expect(app).toMatchObject({
      runtime_name: 'node',
      runtime_version: '22',
      https_only: true,
      storage_authentication_type: 'SystemAssignedIdentity',
      identity: [{ type: 'SystemAssigned' }],
      service_plan_id: ref('azurerm_service_plan.functions.id'),
    });
    expect(resource('azurerm_service_plan', 'functions')).toMatchObject({ os_type: 'Linux', sku_name: 'FC1' });
    // The HTTP functions need a function key (Entra ID through App Service Authentication is documented).
    for (const route of Object.values(HTTP_ROUTES)) expect(route.authLevel).toBe('function');
    expect(readme).toMatch(/az webapp auth update .*--enabled true/);
  });

  it('role assignments: least privilege, each scoped to one resource, never the subscription, never Owner/Contributor', () => {
    const assignments = Object.entries(tf.resource.azurerm_role_assignment ?? {}).map(
      ([name, blocks]): Block => ({
        name,
        ...blocks[0],
      }),
    );
    const identity = ref('azurerm_function_app_flex_consumption.main.identity[0].principal_id');
    const granted = assignments.map((a) => [
      a.role_definition_name,
      a.scope,
      a.principal_id === identity ? 'app' : a.principal_id,
    ]);
    expect(granted.sort()).toEqual(
      [
        [
          'Key Vault Secrets Officer',
          ref('azurerm_key_vault.main.id'),
          ref('data.azurerm_client_config.current.object_id'),
        ],
        ['Key Vault Secrets User', ref('azurerm_key_vault.main.id'), 'app'],
        [
          'Storage Blob Data Contributor',
          ref('azurerm_storage_container.events_dead_letters[0].resource_manager_id'),
          ref('azurerm_eventgrid_system_topic.acs[0].identity[0].principal_id'),
        ],
        ['Storage Blob Data Owner', ref('azurerm_storage_account.main.id'), 'app'],
        ['Storage Queue Data Contributor', ref('azurerm_storage_account.main.id'), 'app'],
        ['Storage Table Data Contributor', ref('azurerm_storage_account.main.id'), 'app'],
      ].sort(),
    );
    for (const a of assignments) {
      expect(a.scope, a.name).not.toMatch(/subscription|resource_group|^\/|azurerm_resource_group/);
      expect(['Owner', 'Contributor', 'User Access Administrator'], a.name).not.toContain(a.role_definition_name);
      expect(a.role_definition_id, a.name).toBeUndefined();
    }
    // No custom roles, and no wildcard anywhere in the module.
    expect(tf.resource.azurerm_role_definition).toBeUndefined();
    expect(Object.values(sources).join('\n')).not.toMatch(/"\*"|actions\s*=/);
  });

  it('ACS: Communication Service, Email service, a domain, and the link between them', () => {
    const domain = resource('azurerm_email_communication_service_domain', 'main');
    expect(domain.email_service_id).toBe(ref('azurerm_email_communication_service.main.id'));
    expect(domain.domain_management).toBe(ref('var.email_domain == "" ? "AzureManaged" : "CustomerManaged"'));
    expect(resource('azurerm_communication_service_email_domain_association', 'main')).toMatchObject({
      communication_service_id: ref('azurerm_communication_service.main.id'),
      email_service_domain_id: ref('azurerm_email_communication_service_domain.main.id'),
    });
    expect(tf.output.email_domain_verification_records?.[0]?.value).toBe(
      ref('azurerm_email_communication_service_domain.main.verification_records'),
    );
    expect(readme).toMatch(/DKIM/);
    expect(readme).toMatch(/SPF/);
  });

  it('alerts on what the function and the host log when a message is set aside', () => {
    const alert = resource('azurerm_monitor_scheduled_query_rules_alert_v2', 'messages_set_aside');
    expect(alert.scopes).toEqual([ref('azurerm_application_insights.main.id')]);
    expect(alert.criteria[0].query).toContain(`'"setAside":'`);
    expect(alert.criteria[0].query).toContain('has reached MaxDequeueCount');
    expect(alert.action[0].action_groups).toEqual([ref('azurerm_monitor_action_group.alerts.id')]);
    expect(functionApp().site_config[0].application_insights_connection_string).toBe(
      ref('azurerm_application_insights.main.connection_string'),
    );
  });

  it('delivery events: an Event Grid system topic on the Communication Service, only when delivery_events is set', () => {
    const topic = resource('azurerm_eventgrid_system_topic', 'acs');
    expect(topic).toMatchObject({
      count: ref('var.delivery_events ? 1 : 0'),
      location: 'global',
      topic_type: 'Microsoft.Communication.CommunicationServices',
      source_resource_id: ref('local.communication_service_id'),
      identity: [{ type: 'SystemAssigned' }],
    });
    // This module's Communication Service unless another is given.
    expect(local('communication_service_id')).toBe(
      ref('coalesce(var.communication_service_id, azurerm_communication_service.main.id)'),
    );
    expect(tf.variable.delivery_events?.[0]).toMatchObject({ type: ref('bool'), default: false });
    expect(tf.variable.communication_service_id?.[0]?.default).toBeNull();
    for (const [type, name] of [
      ['azurerm_eventgrid_system_topic_event_subscription', 'acs_to_function'],
      ['azurerm_storage_container', 'events_dead_letters'],
      ['azurerm_role_assignment', 'events_dead_letter_writer'],
      ['azurerm_monitor_metric_alert', 'events_dead_lettered'],
    ] as const) {
      expect(resource(type, name).count, `${type}.${name}`).toBe(ref('var.delivery_events ? 1 : 0'));
    }
  });

  it('the subscription delivers the two ACS email event types to the Event Grid trigger the code registers', () => {
    const subscription = resource('azurerm_eventgrid_system_topic_event_subscription', 'acs_to_function');
    expect(subscription.system_topic).toBe(ref('azurerm_eventgrid_system_topic.acs[0].name'));
    expect(subscription.included_event_types).toBe(ref('local.acs_event_types'));
    expect(local('acs_event_types')).toEqual([...ACS_EVENT_TYPES]);
    expect(local('acs_events_function')).toBe(ACS_EVENTS_FUNCTION);
    expect(subscription.azure_function_endpoint[0]).toMatchObject({
      function_id: `${ref('azurerm_function_app_flex_consumption.main.id')}/functions/${ref('local.acs_events_function')}`,
      max_events_per_batch: 1,
    });
    // Retried with backoff, then dead-lettered to a blob container of the module's storage account.
    expect(subscription.retry_policy[0]).toEqual({
      max_delivery_attempts: ref('var.events_max_delivery_attempts'),
      event_time_to_live: ref('var.events_time_to_live_minutes'),
    });
    expect(tf.variable.events_max_delivery_attempts?.[0]?.default).toBe(30);
    expect(tf.variable.events_time_to_live_minutes?.[0]?.default).toBe(1440);
    expect(subscription.storage_blob_dead_letter_destination[0]).toEqual({
      storage_account_id: ref('azurerm_storage_account.main.id'),
      storage_blob_container_name: ref('azurerm_storage_container.events_dead_letters[0].name'),
    });
    expect(subscription.dead_letter_identity[0]).toEqual({ type: 'SystemAssigned' });
    expect(subscription.depends_on).toContain(ref('azurerm_role_assignment.events_dead_letter_writer'));
    expect(resource('azurerm_storage_container', 'events_dead_letters')).toMatchObject({
      storage_account_id: ref('azurerm_storage_account.main.id'),
      container_access_type: 'private',
    });
  });

  it('alerts when an event is dead-lettered, through the same action group', () => {
    const alert = resource('azurerm_monitor_metric_alert', 'events_dead_lettered');
    expect(alert.scopes).toEqual([ref('azurerm_eventgrid_system_topic.acs[0].id')]);
    expect(alert.criteria[0]).toMatchObject({
      metric_namespace: 'Microsoft.EventGrid/systemTopics',
      metric_name: 'DeadLetteredCount',
      operator: 'GreaterThan',
      threshold: 0,
    });
    expect(alert.action[0].action_group_id).toBe(ref('azurerm_monitor_action_group.alerts.id'));
    // The HTTP route for events is function-key protected like the others.
    expect(HTTP_ROUTES['http-events']).toMatchObject({ route: 'v1/events/{source}', authLevel: 'function' });
  });

  it('one anonymous route, the one-click unsubscribe links; its base URL is an output; Easy Auth told to leave it out', () => {
    expect(PUBLIC_HTTP_ROUTES).toEqual({
      'http-unsubscribe': { route: 'v1/unsubscribe', methods: ['GET', 'POST'], authLevel: 'anonymous' },
    });
    const keyed = Object.values(HTTP_ROUTES);
    expect(keyed.map((r) => r.authLevel)).toEqual(keyed.map(() => 'function'));
    expect(keyed.map((r) => r.route)).not.toContain('v1/unsubscribe');
    // routePrefix "" puts the route at the app's root: the links are <unsubscribe_base_url>/v1/unsubscribe.
    expect(host.extensions.http.routePrefix).toBe('');
    expect(tf.output.unsubscribe_base_url?.[0]?.value).toBe(
      `https://${ref('azurerm_function_app_flex_consumption.main.default_hostname')}`,
    );
    expect(readme).toMatch(/--excluded-paths '\["\/v1\/unsubscribe"\]'/);
    expect(readme).toContain('unsubscribe.baseUrl');
  });

  it('every variable used is declared with a description and documented in README.md; every declared one is used', () => {
    const declared = Object.keys(tf.variable);
    const code = Object.entries(sources)
      .filter(([file]) => file !== 'variables.tf')
      .map(([, text]) => text)
      .join('\n');
    // Validations in variables.tf refer to their own variable only.
    const used = new Set([...code.matchAll(/\bvar\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
    expect([...used].filter((v) => !declared.includes(v))).toEqual([]);
    expect(declared.filter((v) => !used.has(v))).toEqual([]);
    for (const name of declared) {
      const variable = tf.variable[name]?.[0] ?? {};
      expect(String(variable.description ?? '').length, `${name} has a description`).toBeGreaterThan(20);
      expect(readme, `README.md mentions ${name}`).toContain(`\`${name}\``);
    }
    for (const [name, [output = {}]] of Object.entries(tf.output)) {
      expect(output.description, `output ${name} has a description`).toBeTruthy();
      expect(readme, `README.md mentions output ${name}`).toContain(`\`${name}\``);
    }
  });
});
