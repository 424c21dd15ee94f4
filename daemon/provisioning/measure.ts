/**
 * The measured rate of a service: two samples of its policy's traffic
 * counters on one device (drivers/platforms: Platform.counters), the rate
 * between them is delta bytes * 8 / delta t. Pure (no I/O, no clock of its
 * own): the domain's sampler (domain.ts) feeds it.
 *
 * Counter resets: a re-provisioned policy (a boost, its revert, a
 * redeploy) is a new object on the device whose counters start at 0. A
 * sample whose `epoch` (the segment record's version of the policy) differs
 * from the last one, or whose bytes went down, or whose object is gone,
 * starts over: no rate until the next sample, never a negative or a huge one.
 */
import type { PolicyCounters } from '../../drivers/platforms/index.js';

/** Defaults of `provisioning` in the config. */
export const PROVISIONING_DEFAULTS = {
  /** How often the originating domain samples the counters of its active services, ms; 0: never. */
  measureIntervalMs: 5000,
} as const;

/** A service's rate as measured on one device. */
export interface MeasuredRate {
  /** Mbit/s between the last two samples: bytes the device counted, times 8, over the time between them. */
  rateMbps: number;
  /** When the later of the two samples was read (ISO 8601). */
  at: string;
  /** Time between the two samples, ms. */
  intervalMs: number;
  /** The device and the policy (service id on the device) the counters are of. */
  device: string;
  policy: string;
  /** Packets the policy dropped between the two samples. */
  drops: number;
}

/** One reading of a service's counters. */
export interface CounterSample {
  device: string;
  policy: string;
  /** Changes whenever the policy is put on the device again (its counters restart). */
  epoch: string;
  /** ms since the epoch when read. */
  atMs: number;
  /** undefined: the policy's object is not on the device now. */
  counters: PolicyCounters | undefined;
}

/** The last sample and the rate of each service (by agreement id), in memory. */
export class RateMeter {
  private readonly last = new Map<string, CounterSample & { counters: PolicyCounters }>();
  private readonly rates = new Map<string, MeasuredRate>();

  /** Take a sample; returns the rate it gives, undefined when it only starts (or restarts) the series. */
  sample(id: string, s: CounterSample): MeasuredRate | undefined {
    const prev = this.last.get(id);
    if (!s.counters) {
      this.forget(id);
      return undefined;
    }
    this.last.set(id, { ...s, counters: s.counters });
    const dt = prev ? s.atMs - prev.atMs : 0;
    const restart = !prev || prev.epoch !== s.epoch || prev.device !== s.device || prev.policy !== s.policy || s.counters.bytes < prev.counters.bytes || s.counters.drops < prev.counters.drops || dt <= 0;
    if (restart) {
      this.rates.delete(id);
      return undefined;
    }
    const rate: MeasuredRate = {
      rateMbps: ((s.counters.bytes - prev.counters.bytes) * 8) / (dt * 1000),
      at: new Date(s.atMs).toISOString(),
      intervalMs: dt,
      device: s.device,
      policy: s.policy,
      drops: s.counters.drops - prev.counters.drops,
    };
    this.rates.set(id, rate);
    return rate;
  }

  /** The last rate of a service, if two samples gave one. */
  rate(id: string): MeasuredRate | undefined {
    return this.rates.get(id);
  }

  /** Every service with a rate now. */
  all(): Array<[string, MeasuredRate]> {
    return [...this.rates];
  }

  /** Drop what is kept of a service (it is no longer active). */
  forget(id: string): void {
    this.last.delete(id);
    this.rates.delete(id);
  }

  /** Services sampled now. */
  ids(): string[] {
    return [...this.last.keys()];
  }
}
