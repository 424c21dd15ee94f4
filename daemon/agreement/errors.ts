import { QosBrokerError } from '../../drivers/errors.js';

/**
 * A path cannot be priced or no option meets the provider's objectives. Codes:
 * `QB_PRICING_NOT_SOLD`, `QB_PRICING_CURRENCY_MISMATCH`, `QB_PRICING_BELOW_TARGET`.
 */
export class PricingError extends QosBrokerError {}
