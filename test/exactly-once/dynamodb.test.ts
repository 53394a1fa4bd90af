import { startDynamoUnderTest } from './stores.ts';
import { describeExactlyOnce } from './suite.ts';

describeExactlyOnce('DynamoDB on dynalite', startDynamoUnderTest);
