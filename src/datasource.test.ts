import { DataSourceInstanceSettings, dateTime, ScopedVars } from '@grafana/data';
import { setTemplateSrv } from '@grafana/runtime';

import { FALLBACK_SCHEMA } from './components/editor/schema';
import { FakeTemplateSrv } from './testing/fakeTemplateSrv';
import { DataSource } from './datasource';
import { AuditDataSourceOptions, AuditQuery } from './types';

function newDataSource() {
  const settings = {
    id: 1,
    uid: 'audit',
    type: 'k8saudit-auditlogs-datasource',
    name: 'Kubernetes Audit Logs',
    access: 'proxy',
    readOnly: false,
    jsonData: { source: 'file', file: { paths: ['/var/log/kubernetes/audit'] } },
    meta: { id: 'k8saudit-auditlogs-datasource' },
  } as unknown as DataSourceInstanceSettings<AuditDataSourceOptions>;
  return new DataSource(settings);
}

describe('applyTemplateVariables', () => {
  beforeEach(() => {
    setTemplateSrv(
      new FakeTemplateSrv({
        verb: 'delete',
        ns: ['team-a', 'team-b'],
        user: ['alice', 'bob'],
        one: ['only'],
        empty: '',
        dims: ['verb', 'user.username'],
        row: 'objectRef.namespace',
        needle: 'kubectl',
      })
    );
  });

  it('replaces single-value variables in lists and strings', () => {
    const query: AuditQuery = {
      refId: 'A',
      queryType: 'matrix',
      filter: { verbs: ['$verb', 'get'], search: 'agent=${needle}' },
      rows: '$row',
      columns: 'objectRef.resource',
      limit: 5,
    };
    const out = newDataSource().applyTemplateVariables(query, {});
    expect(out.filter?.verbs).toEqual(['delete', 'get']);
    expect(out.filter?.search).toBe('agent=kubectl');
    expect(out.rows).toBe('objectRef.namespace');
    expect(out.columns).toBe('objectRef.resource');
    expect(out.limit).toBe(5);
    expect(out.queryType).toBe('matrix');
  });

  it('interpolates the rules, severities and allow-lists of detections', () => {
    const query: AuditQuery = {
      refId: 'A',
      queryType: 'detections',
      rules: ['$verb-*'],
      severities: ['$user' as never],
      allow: { namespaces: ['$ns'], users: ['$empty'] },
    };
    const out = newDataSource().applyTemplateVariables(query, {});
    expect(out.rules).toEqual(['delete-*']);
    expect(out.severities).toEqual(['alice', 'bob']);
    expect(out.allow).toEqual({ namespaces: ['team-a', 'team-b'] });
  });

  it("sends the security dashboard's severity and rule variables as lists: a selection as entries, All as *", () => {
    const query: AuditQuery = {
      refId: 'A',
      queryType: 'detections',
      rules: ['$rule'],
      severities: ['$severity' as never],
    };
    const selected = newDataSource().applyTemplateVariables(query, {
      rule: { text: 'rules', value: ['exec-into-pod', 'secret*'] },
      severity: { text: 'severities', value: ['high', 'critical'] },
    });
    expect(selected.rules).toEqual(['exec-into-pod', 'secret*']);
    expect(selected.severities).toEqual(['high', 'critical']);
    // All: Grafana sends the variables' allValue, which the backend reads as every rule and severity.
    const all = newDataSource().applyTemplateVariables(query, {
      rule: { text: 'All', value: '*' },
      severity: { text: 'All', value: '*' },
    });
    expect(all.rules).toEqual(['*']);
    expect(all.severities).toEqual(['*']);
  });

  it('turns a multi-value variable into several list entries', () => {
    const query: AuditQuery = {
      refId: 'A',
      filter: { users: ['$user', 'carol'], namespaces: ['${ns}'] },
      groupBy: ['$dims'],
    };
    const out = newDataSource().applyTemplateVariables(query, {});
    expect(out.filter?.users).toEqual(['alice', 'bob', 'carol']);
    expect(out.filter?.namespaces).toEqual(['team-a', 'team-b']);
    expect(out.groupBy).toEqual(['verb', 'user.username']);
  });

  it('expands a multi-value variable inside a pattern, keeping prefix, suffix and negation', () => {
    const query: AuditQuery = {
      refId: 'A',
      filter: { users: ['!system:serviceaccount:$ns:*'] },
    };
    const out = newDataSource().applyTemplateVariables(query, {});
    expect(out.filter?.users).toEqual(['!system:serviceaccount:team-a:*', '!system:serviceaccount:team-b:*']);
  });

  it('gives every combination of several multi-value variables in one entry', () => {
    const query: AuditQuery = { refId: 'A', filter: { names: ['$user-${ns}'] } };
    const out = newDataSource().applyTemplateVariables(query, {});
    expect(out.filter?.names).toEqual(['alice-team-a', 'alice-team-b', 'bob-team-a', 'bob-team-b']);
  });

  it('treats a multi-value variable with one selected value as that value', () => {
    const out = newDataSource().applyTemplateVariables({ refId: 'A', filter: { resources: ['$one'] } }, {});
    expect(out.filter?.resources).toEqual(['only']);
  });

  it('prefers scoped variables (repeated panels) over dashboard variables', () => {
    const scoped: ScopedVars = { ns: { text: 'team-c', value: 'team-c' } };
    const out = newDataSource().applyTemplateVariables({ refId: 'A', filter: { namespaces: ['$ns'] } }, scoped);
    expect(out.filter?.namespaces).toEqual(['team-c']);
  });

  it('drops entries that interpolate to nothing and leaves unknown variables alone', () => {
    const query: AuditQuery = { refId: 'A', filter: { verbs: ['$empty', 'list'], users: ['$unknown'] } };
    const out = newDataSource().applyTemplateVariables(query, {});
    expect(out.filter?.verbs).toEqual(['list']);
    expect(out.filter?.users).toEqual(['$unknown']);
  });

  it('does not add fields the query did not have', () => {
    const query: AuditQuery = { refId: 'A', queryType: 'denied' };
    expect(newDataSource().applyTemplateVariables(query, {})).toEqual({ refId: 'A', queryType: 'denied' });
  });
});

describe('filterQuery', () => {
  it('skips hidden queries only', () => {
    const ds = newDataSource();
    expect(ds.filterQuery({ refId: 'A' })).toBe(true);
    expect(ds.filterQuery({ refId: 'A', hide: false })).toBe(true);
    expect(ds.filterQuery({ refId: 'A', hide: true })).toBe(false);
  });
});

describe('getDefaultQuery', () => {
  it('is a versioned timeseries count', () => {
    expect(newDataSource().getDefaultQuery('explore' as never)).toEqual({
      schemaVersion: 1,
      queryType: 'timeseries',
      metric: 'count',
    });
  });
});

describe('resources', () => {
  beforeEach(() => setTemplateSrv(new FakeTemplateSrv({ dim: 'verb' })));

  it('gets the dimensions', async () => {
    const ds = newDataSource();
    const getResource = jest.spyOn(ds, 'getResource').mockResolvedValue([{ name: 'verb', label: 'Verb' }]);
    await expect(ds.getDimensions()).resolves.toEqual([{ name: 'verb', label: 'Verb' }]);
    expect(getResource).toHaveBeenCalledWith('dimensions');
  });

  it('gets the schema, parsed over the fallback', async () => {
    const ds = newDataSource();
    const getResource = jest.spyOn(ds, 'getResource').mockResolvedValue({
      schemaVersion: 1,
      queryTypes: [
        { name: 'events', label: 'Events', formats: ['logs', 'table'], limits: { default: 100, max: 2000 } },
      ],
    });
    const schema = await ds.getSchema();
    expect(getResource).toHaveBeenCalledWith('schema');
    expect(schema.queryTypes[0]).toMatchObject({ name: 'events', limits: { default: 100, max: 2000 } });
    expect(schema.queryTypes).toHaveLength(FALLBACK_SCHEMA.queryTypes.length);
  });

  it('gets the values of a dimension in a time range, in milliseconds', async () => {
    const ds = newDataSource();
    const getResource = jest.spyOn(ds, 'getResource').mockResolvedValue([{ value: 'get', count: 3 }]);
    const from = dateTime(1_700_000_000_000);
    const to = dateTime(1_700_000_600_000);
    await expect(ds.getValues('$dim', { from, to, raw: { from, to } }, 20)).resolves.toEqual([
      { value: 'get', count: 3 },
    ]);
    expect(getResource).toHaveBeenCalledWith('values', {
      dim: 'verb',
      from: 1_700_000_000_000,
      to: 1_700_000_600_000,
      limit: 20,
    });
  });

  it('leaves the time range to the backend when none is given', async () => {
    const ds = newDataSource();
    const getResource = jest.spyOn(ds, 'getResource').mockResolvedValue([]);
    await ds.getValues('verb');
    expect(getResource).toHaveBeenCalledWith('values', { dim: 'verb' });
  });
});
