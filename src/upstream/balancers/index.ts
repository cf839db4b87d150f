// One balancer per cluster per config version, chosen by name.
import type { BalancerName } from '../../config/schema.js';
import type { StateStore } from '../../state/store.js';
import type { Balancer, BalancedTarget } from './balancer.js';
import { ConsistentHash } from './consistent-hash.js';
import { LeastConnections } from './least-connections.js';
import { P2cEwma } from './p2c-ewma.js';
import { WeightedRandom } from './random.js';
import { RoundRobin } from './round-robin.js';
import { WeightedRoundRobin } from './weighted-round-robin.js';

export type { Balancer, BalancedTarget, Eligible } from './balancer.js';

export function createBalancer(
  name: BalancerName,
  targets: readonly BalancedTarget[],
  store: StateStore,
  upstreamSlot: number,
  hashOn: string,
): Balancer {
  switch (name) {
    case 'round-robin':
      return new RoundRobin(targets, store, upstreamSlot);
    case 'weighted-round-robin':
      return new WeightedRoundRobin(targets, store, upstreamSlot);
    case 'least-connections':
      return new LeastConnections(targets, store);
    case 'p2c-ewma':
      return new P2cEwma(targets, store);
    case 'consistent-hash':
      return new ConsistentHash(targets, hashOn);
    case 'random':
      return new WeightedRandom(targets);
  }
}
