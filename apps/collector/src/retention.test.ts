import { parseOptions } from '@tcpstate/config';
import { describe, expect, it } from 'vitest';
import { type CollectorOptions, checkCollectorOptions, collectorOptionSpecs } from './collector-options.js';
import { retentionPeriodMs } from './retention.js';

const optionsOf = (argv: string[]) => parseOptions(collectorOptionSpecs, argv, {}).values as unknown as CollectorOptions;

describe('--retention', () => {
  it('takes seconds, minutes, hours and days, and at least 10s', () => {
    expect(['30s', '15m', '12h', '7d', '1d12h'].map((r) => optionsOf(['--retention', r]).retention)).toEqual([
      30_000, 900_000, 43_200_000, 604_800_000, 129_600_000,
    ]);
    expect(checkCollectorOptions(optionsOf(['--retention', '10s']))).toEqual([]);
    expect(checkCollectorOptions(optionsOf(['--retention', '9s']))).toEqual(['--retention: must be at least 10s']);
  });

  it('runs every tenth of the retention, between a second and an hour', () => {
    expect([retentionPeriodMs(10_000), retentionPeriodMs(15_000), retentionPeriodMs(600_000), retentionPeriodMs(7 * 86_400_000)]).toEqual([
      1_000, 1_500, 60_000, 3_600_000,
    ]);
  });
});
