import { startRedisUnderTest } from './stores.ts';
import { describeExactlyOnce } from './suite.ts';

describeExactlyOnce('Redis on redis-server', startRedisUnderTest);
