import { startSharedAzureTable } from '../helpers/pacing.ts';
import { describeSharedPacing } from './pacing-suite.ts';

// About 25 s: one file per store, so that vitest can run the three side by side.
describeSharedPacing(startSharedAzureTable);
