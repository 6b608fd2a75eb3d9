// ESM entry: the same API as lib.js.
import cjs from './lib.js'
export const {
  Governor, TenantHandle, UserQuotaManager, RateLimiter, withTenant, currentTenant,
  TenantGuardError, QuotaExceededError, ConfigError, NotFoundError, ConflictError, StoreError,
  PolicyViolationError, PolicySyntaxError, InvalidArgumentError,
} = cjs
export default cjs
