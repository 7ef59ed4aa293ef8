import {
  createDataFrame,
  DataFrameType,
  DataQueryRequest,
  DataSourceInstanceSettings,
  dateTime,
  FieldType,
  TimeRange,
} from '@grafana/data';
import { setTemplateSrv } from '@grafana/runtime';
import { lastValueFrom } from 'rxjs';

import { FakeTemplateSrv } from './testing/fakeTemplateSrv';
import { AuditVariableSupport, DataSource, framesToAnnotations } from './datasource';
import { AuditDataSourceOptions, AuditVariableQuery, DEFAULT_ANNOTATION_QUERY } from './types';

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

const range: TimeRange = {
  from: dateTime('2026-11-25T16:40:00Z'),
  to: dateTime('2026-11-25T22:40:00Z'),
  raw: { from: 'now-6h', to: 'now' },
};

describe('variable support', () => {
  beforeEach(() => {
    setTemplateSrv(new FakeTemplateSrv({ user: ['alice', 'bob'], dimvar: 'verb' }));
  });

  it('is a custom variable support with an editor', () => {
    const ds = newDataSource();
    expect(ds.variables).toBeInstanceOf(AuditVariableSupport);
    expect((ds.variables as AuditVariableSupport).editor).toBeDefined();
  });

  it('asks GET /values for the dimension over the dashboard range, with the filter interpolated', async () => {
    const ds = newDataSource();
    const getResource = jest.spyOn(ds, 'getResource').mockResolvedValue([
      { value: 'default', count: 10 },
      { value: '', count: 3 },
    ]);
    const values = await ds.metricFindQuery(
      { refId: 'v', dim: 'objectRef.namespace', filter: { users: ['$user'], verbs: [] }, limit: 50 },
      { range }
    );
    expect(values).toEqual([
      { text: 'default', value: 'default' },
      { text: '', value: '' },
    ]);
    expect(getResource).toHaveBeenCalledWith('values', {
      dim: 'objectRef.namespace',
      from: range.from.valueOf(),
      to: range.to.valueOf(),
      limit: 50,
      filter: JSON.stringify({ users: ['alice', 'bob'] }),
    });
  });

  it('interpolates the dimension and sends no empty filter', async () => {
    const ds = newDataSource();
    const getResource = jest.spyOn(ds, 'getResource').mockResolvedValue([{ value: 'get', count: 1 }]);
    await ds.metricFindQuery({ refId: 'v', dim: '$dimvar', filter: { users: [] } }, { range });
    expect(getResource).toHaveBeenCalledWith('values', {
      dim: 'verb',
      from: range.from.valueOf(),
      to: range.to.valueOf(),
    });
  });

  it('returns nothing without a dimension', async () => {
    const ds = newDataSource();
    const getResource = jest.spyOn(ds, 'getResource');
    expect(await ds.metricFindQuery({ refId: 'v' })).toEqual([]);
    expect(getResource).not.toHaveBeenCalled();
  });

  it('answers variable requests through query()', async () => {
    const ds = newDataSource();
    jest.spyOn(ds, 'getResource').mockResolvedValue([{ value: 'alice', count: 2 }]);
    const request = {
      targets: [{ refId: 'v', dim: 'user.username' }],
      range,
      scopedVars: {},
    } as unknown as DataQueryRequest<AuditVariableQuery>;
    const response = await lastValueFrom((ds.variables as AuditVariableSupport).query(request));
    expect(response.data).toEqual([{ text: 'alice', value: 'alice' }]);
  });
});

describe('annotation support', () => {
  it('defaults to events as log lines', () => {
    const ds = newDataSource();
    expect(ds.annotations?.getDefaultQuery?.()).toEqual(DEFAULT_ANNOTATION_QUERY);
  });

  it('turns log lines into events with a title, the body and tags', () => {
    const t = Date.parse('2026-11-25T20:00:00Z');
    const frame = createDataFrame({
      meta: { type: DataFrameType.LogLines },
      fields: [
        { name: 'timestamp', type: FieldType.time, values: [t] },
        { name: 'body', type: FieldType.string, values: ['101 create pods/exec checkout/web-1 by alice'] },
        { name: 'severity', type: FieldType.string, values: ['info'] },
        { name: 'id', type: FieldType.string, values: ['abc/ResponseStarted'] },
        {
          name: 'labels',
          type: FieldType.other,
          values: [
            {
              verb: 'create',
              user: 'alice',
              namespace: 'checkout',
              resource: 'pods',
              subresource: 'exec',
              code: '101',
              name: 'web-1',
            },
          ],
        },
      ],
    });
    expect(framesToAnnotations([frame])).toEqual([
      {
        time: t,
        title: 'create pods/exec checkout/web-1 by alice',
        text: '101 create pods/exec checkout/web-1 by alice',
        tags: ['create', 'alice', 'checkout', 'pods', '101'],
        id: 'abc/ResponseStarted',
      },
    ]);
  });

  it('turns table rows (events table, denied) into events', () => {
    const t = Date.parse('2026-11-25T21:00:00Z');
    const frame = createDataFrame({
      meta: { type: 'table' as DataFrameType },
      fields: [
        { name: 'time', type: FieldType.time, values: [t] },
        { name: 'user', type: FieldType.string, values: ['bob'] },
        { name: 'verb', type: FieldType.string, values: ['create'] },
        { name: 'resource', type: FieldType.string, values: ['rolebindings'] },
        { name: 'namespace', type: FieldType.string, values: ['payments'] },
        { name: 'name', type: FieldType.string, values: [''] },
        { name: 'code', type: FieldType.number, values: [403] },
        { name: 'reason', type: FieldType.string, values: ['RBAC: denied'] },
        { name: 'auditID', type: FieldType.string, values: ['id-1'] },
      ],
    });
    expect(framesToAnnotations([frame])).toEqual([
      {
        time: t,
        title: 'create rolebindings in payments by bob',
        text: 'code 403\nRBAC: denied',
        tags: ['create', 'bob', 'payments', 'rolebindings', '403'],
        id: 'id-1',
      },
    ]);
  });

  it('keeps the rule, severity and detail of detection findings', () => {
    const t = Date.parse('2026-11-25T21:30:00Z');
    const frame = createDataFrame({
      meta: { type: 'table' as DataFrameType },
      fields: [
        { name: 'time', type: FieldType.time, values: [t] },
        { name: 'rule', type: FieldType.string, values: ['exec-into-pod'] },
        { name: 'title', type: FieldType.string, values: ['Exec into a pod'] },
        { name: 'severity', type: FieldType.string, values: ['high'] },
        { name: 'user', type: FieldType.string, values: ['alice'] },
        { name: 'verb', type: FieldType.string, values: ['create'] },
        { name: 'resource', type: FieldType.string, values: ['pods'] },
        { name: 'namespace', type: FieldType.string, values: ['payments'] },
        { name: 'name', type: FieldType.string, values: ['web-1'] },
        { name: 'detail', type: FieldType.string, values: ['command: cat /var/run/secrets/token'] },
        { name: 'auditID', type: FieldType.string, values: ['id-9'] },
        { name: 'count', type: FieldType.number, values: [3] },
      ],
    });
    expect(framesToAnnotations([frame])).toEqual([
      {
        time: t,
        title: '[high] Exec into a pod: create pods payments/web-1 by alice',
        text: 'command: cat /var/run/secrets/token\nrule exec-into-pod, severity high, 3 times',
        tags: ['exec-into-pod', 'high', 'create', 'alice', 'payments', 'pods'],
        id: 'id-9',
      },
    ]);
  });

  it('marks the non-zero points of a time series', () => {
    const t0 = Date.parse('2026-11-25T20:00:00Z');
    const frame = createDataFrame({
      meta: { type: DataFrameType.TimeSeriesWide },
      fields: [
        { name: 'time', type: FieldType.time, values: [t0, t0 + 60000] },
        { name: 'count', type: FieldType.number, values: [0, 2], labels: { verb: 'delete' } },
      ],
    });
    expect(framesToAnnotations([frame])).toEqual([
      { time: t0 + 60000, title: 'verb=delete', text: 'count 2 (verb=delete)', tags: ['delete'] },
    ]);
  });

  it('skips frames without time', () => {
    const frame = createDataFrame({ fields: [{ name: 'user', type: FieldType.string, values: ['x'] }] });
    expect(framesToAnnotations([frame])).toEqual([]);
  });
});
