import { startAzureTableUnderTest } from './stores.ts';
import { describeExactlyOnce } from './suite.ts';

describeExactlyOnce('Azure Table on Azurite', startAzureTableUnderTest);
