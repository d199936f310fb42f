import { Effect } from "effect"
import type { Budgets } from "../budgets/Budgets.ts"
import type { ExactCache } from "../cache/exact/ExactCache.ts"
import type { SemanticCache } from "../cache/semantic/SemanticCache.ts"
import type { LayerName } from "../domain/Answer.ts"
import type { ProviderStatus } from "../providers/health/ProviderLink.ts"
import type { Provider } from "../providers/Provider.ts"
import type { Router } from "../router/Router.ts"
import type { Coalescer, CoalescingStatus } from "./Coalescer.ts"

export interface PipelineStatus {
  readonly layers: Record<LayerName, { readonly status: string }>
  /** Each L3 provider's breaker, retry budget and keys (masked). */
  readonly providers?: ReadonlyArray<ProviderStatus>
  /** Budgets past their `warn_at` in their current window, for `/admin/overview`'s warnings. */
  readonly warnings?: ReadonlyArray<string>
  /** Upstream calls shared by identical requests now, and the requests waiting on them. */
  readonly coalescing?: CoalescingStatus
}

/** What the admin API and the metrics read of the pipeline: each layer's state, from the services it chains. */
export const pipelineStatus = (services: {
  readonly exactCache: ExactCache["Service"]
  readonly semanticCache: SemanticCache["Service"]
  readonly router: Router["Service"]
  readonly provider: Provider["Service"]
  readonly budgets: Budgets["Service"]
  readonly coalescer: Coalescer["Service"]
}): Effect.Effect<PipelineStatus> => {
  const { exactCache, semanticCache, router, provider, budgets, coalescer } = services
  return Effect.gen(function*() {
    return {
      layers: {
        l1a: yield* exactCache.status,
        l1b: yield* semanticCache.status,
        l2: yield* router.status,
        l3: { status: provider.configured ? "ok" : "unconfigured", provider: provider.id, chain: provider.chain }
      },
      providers: yield* provider.status,
      warnings: yield* budgets.warnings,
      coalescing: yield* coalescer.status
    }
  })
}
