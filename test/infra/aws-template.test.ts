import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageAws } from '../../infra/aws/package.ts';
import { readZip, staticImportClosure } from '../../infra/aws/zip.ts';
import { dynamoDbTableResource } from '../../stores/dynamodb.ts';

// Packages serverless.yml offline with osls, as CI does, and checks the CloudFormation it would deploy. It packages
// into a temporary directory rather than .serverless/, so it never races `npm run package:aws`.

interface Resource {
  Type: string;
  // biome-ignore lint/suspicious/noExplicitAny: parsed CloudFormation, whose shape the assertions themselves check
  Properties: Record<string, any>;
}
interface Statement {
  Sid?: string;
  Effect: string;
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
}

const FUNCTIONS = ['queue', 'invoke', 'http', 'events'] as const;
/**
 * Measured 3.7 MB with four functions: each zip holds its handler and every lazily loaded chunk (all providers'
 * SDKs), and serverless-esbuild puts the chunks of every function's build into every zip (one shared chunks/
 * folder), so each function added grows all of them (about 0.6 MB each). What a cold start parses is bounded
 * below, whatever the zip holds.
 */
const MAX_ZIP_BYTES = 4 * 2 ** 20;
/**
 * What a cold start parses before the handler runs: measured 48 to 65 KB (the handler, the runtime's log and
 * invocation code, Powertools Logger and middy). zod, the configuration's schema, the providers, every SDK and the
 * event intake load with the first invocation that needs them (functions/README.md): any of them imported
 * statically would pass this bound (zod alone is 450 KB, an AWS SDK client 300 KB).
 */
const MAX_STATIC_BUNDLE_BYTES = 256 * 1024;
/** Strings only the Azure, Gmail and OCI SDKs contain: none may load with the handler, only through import(). */
const OTHER_CLOUD_SDK_MARKERS = ['azsdk-js', 'gmail.googleapis.com', 'oci-typescript-sdk'];

let outDir: string;
let resources: Record<string, Resource>;
let conditions: Record<string, unknown>;

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'mailroute-aws-package-'));
  await packageAws(['--stage', 'dev', '--region', 'eu-west-1', '--package', outDir]);
  const template = JSON.parse(readFileSync(join(outDir, 'cloudformation-template-update-stack.json'), 'utf8'));
  resources = template.Resources;
  conditions = template.Conditions ?? {};
}, 90_000);
afterAll(async () => {
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const getAtt = (logicalId: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [logicalId, attribute] });
const lambda = (name: string) => resources[`${name[0]!.toUpperCase()}${name.slice(1)}LambdaFunction`]!;
const asList = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

function statements(): Statement[] {
  return [...ofType('AWS::IAM::Role'), ...ofType('AWS::IAM::Policy'), ...ofType('AWS::IAM::ManagedPolicy')].flatMap(
    ([, r]) => {
      const docs = r.Type === 'AWS::IAM::Role' ? asList(r.Properties.Policies).map((p) => p.PolicyDocument) : [];
      if (r.Properties.PolicyDocument) docs.push(r.Properties.PolicyDocument);
      return docs.flatMap((d) => asList<Statement>(d.Statement));
    },
  );
}
const statementsFor = (service: string) =>
  statements().filter((s) => asList(s.Action).some((a) => a.startsWith(`${service}:`)));

/** The ARN strings of a statement's resources, with Fn::If branches (other than AWS::NoValue) flattened. */
function resourceArns(statement: Statement): unknown[] {
  return asList(statement.Resource).flatMap((r) => {
    const ifBranches = (r as { 'Fn::If'?: [string, unknown, unknown] })['Fn::If'];
    if (!ifBranches) return [r];
    expect(conditions).toHaveProperty(ifBranches[0]);
    return ifBranches.slice(1).filter((b) => JSON.stringify(b) !== JSON.stringify({ Ref: 'AWS::NoValue' }));
  });
}
const subOf = (arn: unknown) => (arn as { 'Fn::Sub'?: unknown })['Fn::Sub'];
/** An `Fn::Sub` ARN template in the stack's own partition, region and account. */
const stackArn = (service: string, resource: string) =>
  `arn:\${AWS::Partition}:${service}:\${AWS::Region}:\${AWS::AccountId}:${resource}`;

describe('send queue and dead-letter queues', () => {
  it('redrives to a dead-letter queue after 5 receives, and keeps dead letters 14 days', () => {
    const queue = resources.SendQueue!;
    expect(queue.Type).toBe('AWS::SQS::Queue');
    expect(queue.Properties.RedrivePolicy).toEqual({
      deadLetterTargetArn: getAtt('SendDeadLetterQueue'),
      maxReceiveCount: 5,
    });
    expect(resources.SendDeadLetterQueue!.Type).toBe('AWS::SQS::Queue');
    for (const dlq of ['SendDeadLetterQueue', 'PermanentFailureQueue']) {
      expect(resources[dlq]!.Properties.MessageRetentionPeriod).toBe(1_209_600);
    }
  });

  it('gives the handler a permanent-failure queue of its own, apart from the redrive target', () => {
    expect(resources.PermanentFailureQueue!.Type).toBe('AWS::SQS::Queue');
    for (const name of FUNCTIONS) {
      const env = lambda(name).Properties.Environment.Variables;
      expect(env.MAILROUTE_DLQ_URL).toEqual({ Ref: 'PermanentFailureQueue' });
      expect(env.MAILROUTE_QUEUE_URL).toEqual({ Ref: 'SendQueue' });
      expect(env.MAILROUTE_STORE_TABLE).toEqual({ Ref: 'StateTable' });
      expect(env.MAILROUTE_CONFIG_SSM).toBe('/mailroute/dev/config');
    }
  });

  it('sets the visibility timeout to at least 6 x the function timeout plus the batching window', () => {
    const [, mapping] = ofType('AWS::Lambda::EventSourceMapping')[0]!;
    const timeout = lambda('queue').Properties.Timeout as number;
    const window = mapping.Properties.MaximumBatchingWindowInSeconds as number;
    expect(resources.SendQueue!.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * timeout + window);
  });
});

describe('event source mapping', () => {
  it('feeds the queue function in batches, with partial failures and a concurrency cap', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(1);
    const { Properties: p } = mappings[0]![1];
    expect(p.EventSourceArn).toEqual(getAtt('SendQueue'));
    expect(p.FunctionName).toEqual(getAtt('QueueLambdaFunction'));
    expect(p.BatchSize).toBe(10);
    expect(p.MaximumBatchingWindowInSeconds).toBe(5);
    expect(p.FunctionResponseTypes).toContain('ReportBatchItemFailures');
    expect(p.ScalingConfig.MaximumConcurrency).toBeGreaterThanOrEqual(2);
    expect(p.ScalingConfig.MaximumConcurrency).toBeLessThanOrEqual(1000);
  });
});

describe('state table', () => {
  it('is the layout stores/dynamodb.ts reads and writes', () => {
    const table = resources.StateTable!;
    expect(table.Type).toBe(dynamoDbTableResource.Type);
    expect(table.Properties).toMatchObject(JSON.parse(JSON.stringify(dynamoDbTableResource.Properties)));
    expect(table.Properties.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(table.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(table.Properties.BillingMode).toBe('PAY_PER_REQUEST');
  });
});

describe('alarms', () => {
  it.each(['SendDeadLetterQueue', 'PermanentFailureQueue'])('alarms as soon as %s holds a message', (queue) => {
    const alarms = ofType('AWS::CloudWatch::Alarm').filter(([, a]) =>
      a.Properties.Dimensions?.some(
        (d: { Name: string; Value: unknown }) =>
          d.Name === 'QueueName' && JSON.stringify(d.Value) === JSON.stringify(getAtt(queue, 'QueueName')),
      ),
    );
    expect(alarms).toHaveLength(1);
    const { Properties: p } = alarms[0]![1];
    expect(p).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(p.AlarmActions).toEqual([{ Ref: 'AlarmTopic' }]);
  });
});

describe('functions', () => {
  it('runs every function on nodejs22.x', () => {
    const functions = ofType('AWS::Lambda::Function');
    expect(functions.map(([id]) => id).sort()).toEqual([
      'EventsLambdaFunction',
      'HttpLambdaFunction',
      'InvokeLambdaFunction',
      'QueueLambdaFunction',
    ]);
    for (const [, fn] of functions) expect(fn.Properties.Runtime).toBe('nodejs22.x');
  });

  it('serves HTTP only through an IAM-authorized function URL, never publicly', () => {
    const urls = ofType('AWS::Lambda::Url');
    expect(urls).toHaveLength(1);
    expect(urls[0]![1].Properties).toMatchObject({
      AuthType: 'AWS_IAM',
      TargetFunctionArn: getAtt('HttpLambdaFunction'),
    });
    for (const [, permission] of ofType('AWS::Lambda::Permission'))
      expect(permission.Properties.Principal).not.toBe('*');
  });

  it('documents the events function URL as the one-click unsubscribe base URL, public only by a deliberate url: true', () => {
    const root = new URL('../../', import.meta.url);
    const readme = readFileSync(new URL('infra/aws/README.md', root), 'utf8');
    const serverless = readFileSync(new URL('serverless.yml', root), 'utf8');
    const section = readme.slice(readme.indexOf('## One-click unsubscribe'));
    expect(section).toMatch(/^## One-click unsubscribe\n/);
    expect(section).toContain('`unsubscribe.baseUrl`');
    expect(section).toContain('EventsLambdaFunctionUrl');
    expect(section).toContain('url: true');
    expect(serverless).toMatch(/unsubscribe\.baseUrl/);
    // As the template stands, the events function has no URL at all: only the IAM-authorized http one exists.
    expect(ofType('AWS::Lambda::Url').map(([, url]) => url.Properties.TargetFunctionArn)).toEqual([
      getAtt('HttpLambdaFunction'),
    ]);
  });
});

describe('IAM', () => {
  it('grants no wildcard action and nothing on every resource', () => {
    expect(statements().length).toBeGreaterThan(0);
    for (const s of statements()) {
      expect(s.Effect).toBe('Allow');
      expect(s.NotAction).toBeUndefined();
      expect(s.NotResource).toBeUndefined();
      for (const action of asList(s.Action)) expect(action).not.toContain('*');
      for (const arn of resourceArns(s)) expect(arn).not.toBe('*');
    }
  });

  it('allows SES sends on the configured identity (and optional configuration set) only', () => {
    const ses = statementsFor('ses').filter((s) => s.Sid !== 'ReadSesIdentityForDnsCheck');
    expect(ses).toHaveLength(1);
    expect(asList(ses[0]!.Action).sort()).toEqual(['ses:SendEmail', 'ses:SendRawEmail']);
    const arns = resourceArns(ses[0]!).map(subOf);
    expect(arns).toEqual([
      stackArn('ses', 'identity/example.com'),
      // The configuration set's ARN, only when the sesConfigurationSet param is set (a CloudFormation condition).
      stackArn('ses', 'configuration-set/'),
    ]);
  });

  it('lets the cold-start DNS check read the configured SES identity, and nothing else', () => {
    const read = statementsFor('ses').filter((s) => s.Sid === 'ReadSesIdentityForDnsCheck');
    expect(read).toHaveLength(1);
    expect(asList(read[0]!.Action)).toEqual(['ses:GetEmailIdentity']);
    expect(resourceArns(read[0]!).map(subOf)).toEqual([stackArn('ses', 'identity/example.com')]);
  });

  it('allows DynamoDB item reads and writes on the state table only', () => {
    const dynamo = statementsFor('dynamodb');
    expect(dynamo).toHaveLength(1);
    // UpdateItem included: shared rate limits are one conditional UpdateItem; without it they fall back to a local share.
    expect([...asList(dynamo[0]!.Action)].sort()).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    expect(dynamo[0]!.Resource).toEqual([getAtt('StateTable')]);
  });

  it('lets the functions send to the permanent-failure queue and the send queue, and consume only the latter', () => {
    const sqs = statementsFor('sqs');
    const sendTargets = sqs.filter((s) => asList(s.Action).includes('sqs:SendMessage')).flatMap(resourceArns);
    expect(sendTargets).toEqual(expect.arrayContaining([getAtt('PermanentFailureQueue'), getAtt('SendQueue')]));
    // The events function's on-failure destination: Lambda writes it with the function's role.
    expect(sendTargets).toContainEqual(getAtt('EventsDeadLetterQueue'));
    for (const arn of sqs.flatMap(resourceArns)) {
      expect([getAtt('PermanentFailureQueue'), getAtt('SendQueue'), getAtt('EventsDeadLetterQueue')]).toContainEqual(
        arn,
      );
    }
    const consumed = sqs.filter((s) => asList(s.Action).includes('sqs:ReceiveMessage')).flatMap(resourceArns);
    expect(consumed).toEqual([getAtt('SendQueue')]);
  });

  it('reads the configuration parameter and the secrets under the stage prefixes only', () => {
    const ssmArns = statementsFor('ssm').flatMap(resourceArns).map(subOf);
    expect(ssmArns).toEqual([
      stackArn('ssm', 'parameter/mailroute/dev/config'),
      stackArn('ssm', 'parameter/mailroute/dev/*'),
      stackArn('ssm', 'parameter/aws/reference/secretsmanager/mailroute/dev/*'),
    ]);
    const secretStatements = statementsFor('secretsmanager');
    expect(secretStatements.flatMap((s) => asList(s.Action))).toEqual(['secretsmanager:GetSecretValue']);
    expect(secretStatements.flatMap(resourceArns).map(subOf)).toEqual([
      stackArn('secretsmanager', 'secret:mailroute/dev/*'),
    ]);
  });
});

describe('delivery events', () => {
  const EVENT_TYPES = [
    'send',
    'reject',
    'bounce',
    'complaint',
    'delivery',
    'open',
    'click',
    'renderingFailure',
    'deliveryDelay',
    'subscription',
  ];

  it('subscribes the events function to the SES events topic, with a dead-letter queue, and allows only that topic', () => {
    expect(resources.SesEventsTopic!.Type).toBe('AWS::SNS::Topic');
    const subscriptions = ofType('AWS::SNS::Subscription');
    expect(subscriptions).toHaveLength(1);
    expect(subscriptions[0]![1].Properties).toEqual({
      TopicArn: { Ref: 'SesEventsTopic' },
      Protocol: 'lambda',
      Endpoint: getAtt('EventsLambdaFunction'),
      RedrivePolicy: { deadLetterTargetArn: getAtt('EventsDeadLetterQueue') },
    });
    const env = lambda('events').Properties.Environment.Variables;
    expect(env.MAILROUTE_SNS_TOPIC_ARNS).toEqual({ Ref: 'SesEventsTopic' });
    expect(lambda('events').Properties.Handler).toBe('functions/aws/events.handler');
    // Only the events function takes SNS messages in.
    for (const name of ['queue', 'invoke', 'http']) {
      expect(lambda(name).Properties.Environment.Variables.MAILROUTE_SNS_TOPIC_ARNS).toBeUndefined();
    }
    const permissions = ofType('AWS::Lambda::Permission').filter(
      ([, p]) => JSON.stringify(p.Properties.FunctionName) === JSON.stringify(getAtt('EventsLambdaFunction')),
    );
    expect(permissions.map(([, p]) => [p.Properties.Principal, p.Properties.SourceArn])).toEqual(
      expect.arrayContaining([['sns.amazonaws.com', { Ref: 'SesEventsTopic' }]]),
    );
  });

  it('SES publishes every event type of the configured configuration set to the topic (only when one is set)', () => {
    const destination = resources.SesEventsSnsDestination!;
    expect(destination.Type).toBe('AWS::SES::ConfigurationSetEventDestination');
    expect((destination as Resource & { Condition?: string }).Condition).toBe('HasSesSnsEventDestination');
    expect(conditions.HasSesSnsEventDestination).toEqual({
      'Fn::And': [{ Condition: 'HasSesConfigurationSet' }, { 'Fn::Not': [{ Condition: 'SesEventsViaEventBridge' }] }],
    });
    expect(destination.Properties.EventDestination).toMatchObject({
      Enabled: true,
      SnsDestination: { TopicARN: { Ref: 'SesEventsTopic' } },
    });
    expect([...destination.Properties.EventDestination.MatchingEventTypes].sort()).toEqual([...EVENT_TYPES].sort());
    // SES may publish to the topic for this account's configuration set and identity only.
    const [, policy] = ofType('AWS::SNS::TopicPolicy')[0]!;
    const statement = policy.Properties.PolicyDocument.Statement[0];
    expect(statement).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'ses.amazonaws.com' },
      Action: 'sns:Publish',
      Resource: { Ref: 'SesEventsTopic' },
      Condition: { StringEquals: { 'AWS:SourceAccount': { Ref: 'AWS::AccountId' } } },
    });
    expect(statement.Condition.ArnLike['AWS:SourceArn'].map(subOf)).toEqual([
      stackArn('ses', 'configuration-set/'),
      stackArn('ses', 'identity/example.com'),
    ]);
  });

  it('the EventBridge route instead (sesEventsVia=eventbridge): a rule on aws.ses invoking the function, with a DLQ', () => {
    expect(conditions.SesEventsViaEventBridge).toEqual({ 'Fn::Equals': ['sns', 'eventbridge'] });
    const rule = resources.SesEventsRule! as Resource & { Condition?: string };
    expect(rule.Type).toBe('AWS::Events::Rule');
    expect(rule.Condition).toBe('SesEventsViaEventBridge');
    expect(rule.Properties.EventPattern.source).toEqual(['aws.ses']);
    expect(rule.Properties.Targets).toEqual([
      expect.objectContaining({
        Arn: getAtt('EventsLambdaFunction'),
        DeadLetterConfig: { Arn: getAtt('EventsDeadLetterQueue') },
      }),
    ]);
    const eventBridge = resources.SesEventsEventBridgeDestination! as Resource & { Condition?: string };
    expect(eventBridge.Condition).toBe('HasSesEventBridgeEventDestination');
    expect([...eventBridge.Properties.EventDestination.MatchingEventTypes].sort()).toEqual([...EVENT_TYPES].sort());
    const permission = resources.SesEventsRulePermission! as Resource & { Condition?: string };
    expect(permission.Condition).toBe('SesEventsViaEventBridge');
    expect(permission.Properties).toMatchObject({
      Principal: 'events.amazonaws.com',
      SourceArn: getAtt('SesEventsRule'),
    });
  });

  it('a failed invocation is retried twice, then kept in the events dead-letter queue, which alarms', () => {
    const [, config] = ofType('AWS::Lambda::EventInvokeConfig')[0]!;
    expect(config.Properties).toMatchObject({
      FunctionName: { Ref: 'EventsLambdaFunction' },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: getAtt('EventsDeadLetterQueue') } },
    });
    expect(resources.EventsDeadLetterQueue!.Properties.MessageRetentionPeriod).toBe(1_209_600);
    const [, queuePolicy] = ofType('AWS::SQS::QueuePolicy')[0]!;
    expect(queuePolicy.Properties.Queues).toEqual([{ Ref: 'EventsDeadLetterQueue' }]);
    expect(queuePolicy.Properties.PolicyDocument.Statement[0]).toMatchObject({
      Principal: { Service: 'sns.amazonaws.com' },
      Action: 'sqs:SendMessage',
      Condition: { ArnEquals: { 'aws:SourceArn': { Ref: 'SesEventsTopic' } } },
    });
    const alarms = ofType('AWS::CloudWatch::Alarm').filter(([, a]) =>
      a.Properties.Dimensions?.some(
        (d: { Value: unknown }) =>
          JSON.stringify(d.Value) === JSON.stringify(getAtt('EventsDeadLetterQueue', 'QueueName')),
      ),
    );
    expect(alarms).toHaveLength(1);
    expect(alarms[0]![1].Properties).toMatchObject({ Threshold: 0, AlarmActions: [{ Ref: 'AlarmTopic' }] });
  });

  it('the state table grant stays item-level: applying events needs no Scan (only listing them does)', () => {
    const actions = statementsFor('dynamodb').flatMap((s) => asList(s.Action));
    expect(actions).not.toContain('dynamodb:Scan');
    expect(actions).not.toContain('dynamodb:Query');
  });
});

describe('bundles', () => {
  it.each(FUNCTIONS)('packages %s as a small ESM bundle that loads no other cloud SDK up front', (name) => {
    const zipPath = join(outDir, basename(lambda(name).Properties.Code.S3Key as string));
    expect(existsSync(zipPath)).toBe(true);
    expect(statSync(zipPath).size).toBeLessThan(MAX_ZIP_BYTES);

    const entries = readZip(readFileSync(zipPath));
    const entry = `functions/aws/${name}.mjs`;
    expect(entries.map((e) => e.name)).toContain(entry);
    const files = new Map(
      entries.filter((e) => e.name.endsWith('.mjs')).map((e) => [e.name, e.read().toString('utf8')]),
    );
    const loaded = staticImportClosure(files, entry);
    const loadedBytes = loaded.reduce((sum, file) => sum + Buffer.byteLength(files.get(file)!), 0);
    expect(loadedBytes).toBeLessThan(MAX_STATIC_BUNDLE_BYTES);
    for (const file of loaded) {
      for (const marker of OTHER_CLOUD_SDK_MARKERS)
        expect(files.get(file), `${file} has ${marker}`).not.toContain(marker);
    }
  });
});

describe('the packaged queue function', () => {
  it('sends a batch from its zip: ESM chunks, require() in CommonJS dependencies, the lazily loaded adapter', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mailroute-aws-unzipped-'));
    try {
      for (const entry of readZip(readFileSync(join(outDir, 'queue.zip')))) {
        await mkdir(dirname(join(dir, entry.name)), { recursive: true });
        await writeFile(join(dir, entry.name), entry.read());
      }
      const record = {
        messageId: 'bundle-check-1',
        receiptHandle: 'handle',
        body: JSON.stringify({ from: 'app@example.com', to: 'user@example.com', subject: 'Hi', text: 'Hello' }),
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: '1',
          SenderId: 'A',
          ApproximateFirstReceiveTimestamp: '1',
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:mailroute-dev-send',
        awsRegion: 'eu-west-1',
      };
      const handlerUrl = pathToFileURL(join(dir, 'functions/aws/queue.mjs')).href;
      const script = [
        `const { handler } = await import(${JSON.stringify(handlerUrl)});`,
        "const context = { functionName: 'queue', awsRequestId: 'req-1', getRemainingTimeInMillis: () => 30000 };",
        'console.log(JSON.stringify(await handler(JSON.parse(process.argv[1]), context)));',
        'process.exit(0);', // a provider may keep sockets open, as a frozen Lambda container would
      ].join('\n');
      const outbox = join(dir, 'outbox');
      const config = { providers: [{ name: 'local', provider: 'local', mode: 'api', outboxDir: outbox }] };
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--input-type=module', '-e', script, JSON.stringify({ Records: [record] })],
        {
          env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', MAILROUTE_CONFIG: JSON.stringify(config) },
          timeout: 20_000,
        },
      );
      expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ batchItemFailures: [] });
      expect(readdirSync(outbox).filter((f) => f.endsWith('.eml'))).toHaveLength(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
