import { ProviderRegistry } from '../core/contract/provider-registry.ts';
import { azure } from './azure/index.ts';
import { gmail } from './gmail/index.ts';
import { local } from './local/index.ts';
import { oci } from './oci/index.ts';
import { ses } from './ses/index.ts';

/**
 * The built-in providers, one line each. Each descriptor imports its adapters (and so its cloud SDK) only when
 * an entry uses them: a function configured for SES never loads the Azure, Google or OCI SDKs.
 */
export const builtInProviders = new ProviderRegistry([local, ses, azure, gmail, oci]);

/** The adapter for one provider entry of the configuration, built by its provider's descriptor. */
export const createAdapter = builtInProviders.createAdapter;
