import { act, renderHook, waitFor } from '@testing-library/react';

import served from './testdata/schema.json';
import { FALLBACK_SCHEMA, formatsOf, loadSchema, parseSchema, QuerySchema, typeSchema, useSchema } from './schema';

// testdata/schema.json is what the backend serves (pkg/plugin TestSchemaFixture keeps it so).
describe('FALLBACK_SCHEMA', () => {
  it('is the schema the backend serves', () => {
    const parsed = parseSchema(served);
    const byName = <T extends { name: string }>(list: readonly T[]) =>
      [...list].sort((a, b) => a.name.localeCompare(b.name));
    expect(byName(FALLBACK_SCHEMA.queryTypes)).toEqual(byName(parsed.queryTypes));
    expect(FALLBACK_SCHEMA.dimensions).toEqual(parsed.dimensions);
    expect(FALLBACK_SCHEMA.rules.map((r) => [r.id, r.severity])).toEqual(parsed.rules.map((r) => [r.id, r.severity]));
    expect(FALLBACK_SCHEMA.severities).toEqual(parsed.severities);
    expect(FALLBACK_SCHEMA.schemaVersion).toBe(parsed.schemaVersion);
  });

  it('has the formats and limits of docs/query-model.md', () => {
    expect(formatsOf(FALLBACK_SCHEMA, 'latency')).toEqual(['timeseries', 'heatmap']);
    expect(formatsOf(FALLBACK_SCHEMA, 'timeseries')).toEqual([]);
    expect(typeSchema(FALLBACK_SCHEMA, 'events').limits).toEqual({ default: 100, max: 5000, of: 'events' });
    expect(typeSchema(FALLBACK_SCHEMA, 'detections').defaultFormat).toBe('table');
    expect(typeSchema(FALLBACK_SCHEMA, 'topn').sortBy).toEqual(['requests', 'errors', 'denied', 'p99']);
  });
});

describe('parseSchema', () => {
  it('takes the backend order, labels, formats and limits', () => {
    const s = parseSchema({
      schemaVersion: 1,
      queryTypes: [
        {
          name: 'events',
          label: 'Audit events',
          description: 'd',
          formats: ['table', 'logs'],
          limits: { default: 50, max: 2000, of: 'events' },
          defaults: {},
        },
        {
          name: 'timeseries',
          label: 'Requests',
          description: 'r',
          formats: [],
          limits: { default: 5, max: 50, of: 's' },
        },
      ],
    });
    expect(s.queryTypes.slice(0, 2).map((t) => t.name)).toEqual(['events', 'timeseries']);
    const events = typeSchema(s, 'events');
    expect(events).toMatchObject({ label: 'Audit events', formats: ['table', 'logs'], defaultFormat: 'table' });
    expect(events.limits).toEqual({ default: 50, max: 2000, of: 'events' });
    // timeseries keeps its metrics from the fallback when the answer has none, topn its orders.
    expect(typeSchema(s, 'timeseries').metrics).toEqual(['count', 'rate']);
    expect(typeSchema(s, 'topn').sortBy).toEqual(['requests', 'errors', 'denied', 'p99']);
    // Types the answer does not list keep their fallback, after the listed ones.
    expect(s.queryTypes).toHaveLength(FALLBACK_SCHEMA.queryTypes.length);
    expect(typeSchema(s, 'latency')).toEqual(typeSchema(FALLBACK_SCHEMA, 'latency'));
    // The rest of the schema falls back too.
    expect(s.dimensions).toBe(FALLBACK_SCHEMA.dimensions);
    expect(s.rules).toBe(FALLBACK_SCHEMA.rules);
  });

  it('drops what it cannot use and keeps the fallback for it', () => {
    for (const raw of [undefined, null, 'schema', 42, [], { queryTypes: 'none' }]) {
      const s = parseSchema(raw);
      expect(s.queryTypes).toEqual(FALLBACK_SCHEMA.queryTypes);
      expect(s.severities).toEqual(FALLBACK_SCHEMA.severities);
    }
    const s = parseSchema({
      queryTypes: [
        { name: 'histogram', label: 'New', formats: [], limits: { default: 1, max: 2 } },
        { name: 'denied', label: 7, formats: 'table', limits: { default: -1, max: 'lots' } },
        { name: 'latency', formats: ['timeseries', 'pie'], limits: { default: 10, max: 5 } },
      ],
      rules: [
        { id: 'x', severity: 'apocalyptic' },
        { id: 'exec-into-pod', severity: 'medium', title: 'Exec' },
      ],
      dimensions: [{ label: 'no name' }, { name: 'verb' }],
      severities: ['low', 'bogus'],
    });
    expect(s.queryTypes.map((t) => t.name)).not.toContain('histogram');
    expect(typeSchema(s, 'denied')).toEqual(typeSchema(FALLBACK_SCHEMA, 'denied'));
    // Unknown formats are dropped; a maximum below the default is not believed.
    expect(typeSchema(s, 'latency').formats).toEqual(['timeseries']);
    expect(typeSchema(s, 'latency').limits.max).toBe(500);
    expect(s.rules).toEqual([{ id: 'exec-into-pod', severity: 'medium', title: 'Exec', description: undefined }]);
    expect(s.dimensions).toEqual([{ name: 'verb', label: 'verb' }]);
    expect(s.severities).toEqual(['low']);
  });
});

function schemaWith(max: number): QuerySchema {
  return {
    ...FALLBACK_SCHEMA,
    queryTypes: FALLBACK_SCHEMA.queryTypes.map((t) =>
      t.name === 'events' ? { ...t, limits: { ...t.limits, max } } : t
    ),
  };
}

describe('loadSchema', () => {
  it('asks each datasource once', async () => {
    const ds = { getSchema: jest.fn().mockResolvedValue(schemaWith(2000)) };
    const other = { getSchema: jest.fn().mockResolvedValue(schemaWith(3000)) };
    await expect(loadSchema(ds)).resolves.toEqual(schemaWith(2000));
    await expect(loadSchema(ds)).resolves.toEqual(schemaWith(2000));
    await expect(loadSchema(other)).resolves.toEqual(schemaWith(3000));
    expect(ds.getSchema).toHaveBeenCalledTimes(1);
    expect(other.getSchema).toHaveBeenCalledTimes(1);
  });

  it('asks again after a failure', async () => {
    const ds = { getSchema: jest.fn().mockRejectedValueOnce(new Error('down')).mockResolvedValue(schemaWith(2000)) };
    await expect(loadSchema(ds)).rejects.toThrow('down');
    await expect(loadSchema(ds)).resolves.toEqual(schemaWith(2000));
    expect(ds.getSchema).toHaveBeenCalledTimes(2);
  });

  it('is the fallback without a datasource that serves it', async () => {
    await expect(loadSchema(undefined)).resolves.toBe(FALLBACK_SCHEMA);
    await expect(loadSchema({})).resolves.toBe(FALLBACK_SCHEMA);
  });
});

describe('useSchema', () => {
  it('is the fallback until the schema arrives, then the schema', async () => {
    let resolve: (s: QuerySchema) => void = () => {};
    const ds = { getSchema: jest.fn(() => new Promise<QuerySchema>((r) => (resolve = r))) };
    const { result } = renderHook(() => useSchema(ds));
    expect(result.current).toBe(FALLBACK_SCHEMA);
    await act(async () => resolve(schemaWith(2000)));
    expect(typeSchema(result.current, 'events').limits.max).toBe(2000);
    // A second editor of the same datasource starts with it.
    const again = renderHook(() => useSchema(ds));
    expect(typeSchema(again.result.current, 'events').limits.max).toBe(2000);
    expect(ds.getSchema).toHaveBeenCalledTimes(1);
  });

  it('stays the fallback when the request fails', async () => {
    const ds = { getSchema: jest.fn().mockRejectedValue(new Error('down')) };
    const { result } = renderHook(() => useSchema(ds));
    await waitFor(() => expect(ds.getSchema).toHaveBeenCalled());
    await act(() => Promise.resolve());
    expect(result.current).toBe(FALLBACK_SCHEMA);
  });
});
