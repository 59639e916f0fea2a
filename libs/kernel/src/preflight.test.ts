import { describe, expect, it } from 'vitest';

import { hasBpfCapabilities, kernelAtLeast } from './preflight.js';

describe('hasBpfCapabilities', () => {
  it('accepts root (all capabilities) and CAP_SYS_ADMIN alone', () => {
    expect(hasBpfCapabilities('000001ffffffffff')).toBe(true);
    expect(hasBpfCapabilities((1n << 21n).toString(16))).toBe(true);
  });
  it('accepts CAP_BPF with CAP_PERFMON, not either alone', () => {
    expect(hasBpfCapabilities(((1n << 39n) | (1n << 38n)).toString(16))).toBe(true);
    expect(hasBpfCapabilities((1n << 39n).toString(16))).toBe(false);
    expect(hasBpfCapabilities((1n << 38n).toString(16))).toBe(false);
    expect(hasBpfCapabilities('0000000000000000')).toBe(false);
  });
});

describe('kernelAtLeast', () => {
  it('compares major and minor', () => {
    expect(kernelAtLeast('6.18.44-fc-v782')).toBe(true);
    expect(kernelAtLeast('5.13.0')).toBe(true);
    expect(kernelAtLeast('5.12.19')).toBe(false);
    expect(kernelAtLeast('4.19.0-amd64')).toBe(false);
  });
});
