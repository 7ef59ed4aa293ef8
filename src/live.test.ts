import { DataQueryRequest, DataSourceInstanceSettings, dateTime, LiveChannelScope, LoadingState } from '@grafana/data';
import {
  DataSourceWithBackend,
  GrafanaLiveSrv,
  LiveDataStreamOptions,
  setGrafanaLiveSrv,
  setTemplateSrv,
} from '@grafana/runtime';
import { firstValueFrom, of, toArray } from 'rxjs';

import { DataSource } from './datasource';
import { liveStreamKey, liveTargets } from './live';
import plugin from './plugin.json';
import { FakeTemplateSrv } from './testing/fakeTemplateSrv';
import { AuditDataSourceOptions, AuditQuery } from './types';

function request(targets: AuditQuery[], liveStreaming?: boolean): DataQueryRequest<AuditQuery> {
  const now = dateTime();
  return {
    requestId: 'Q1',
    interval: '1s',
    intervalMs: 1000,
    maxDataPoints: 500,
    range: { from: now, to: now, raw: { from: 'now-1h', to: 'now' } },
    scopedVars: {},
    targets,
    timezone: 'utc',
    app: 'explore',
    startTime: 0,
    liveStreaming,
  };
}

describe('liveTargets', () => {
  const events: AuditQuery = { refId: 'A', queryType: 'events' };
  const detections: AuditQuery = { refId: 'B', queryType: 'detections' };
  const series: AuditQuery = { refId: 'C', queryType: 'timeseries' };

  it('streams events and detections queries in Explore live mode', () => {
    expect(liveTargets(request([events, detections, series], true))).toEqual([events, detections]);
  });

  it('streams only queries that ask for it otherwise', () => {
    const streamed = { ...events, stream: true } as AuditQuery;
    expect(liveTargets(request([events, streamed, { ...series, stream: true } as AuditQuery]))).toEqual([streamed]);
  });

  it('never streams hidden queries', () => {
    expect(liveTargets(request([{ ...events, hide: true }], true))).toEqual([]);
  });
});

describe('liveStreamKey', () => {
  it('is the same for the same query whatever its refId, key order or visibility', () => {
    const a: AuditQuery = { refId: 'A', queryType: 'events', filter: { verbs: ['delete'], users: ['alice'] } };
    const b: AuditQuery = {
      filter: { users: ['alice'], verbs: ['delete'] },
      queryType: 'events',
      refId: 'Z',
      hide: false,
    };
    expect(liveStreamKey(a)).toBe(liveStreamKey(b));
    expect(liveStreamKey(a)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('differs when what the backend runs differs', () => {
    const a: AuditQuery = { refId: 'A', queryType: 'events', filter: { verbs: ['delete'] } };
    expect(liveStreamKey(a)).not.toBe(liveStreamKey({ ...a, filter: { verbs: ['create'] } }));
    expect(liveStreamKey(a)).not.toBe(liveStreamKey({ ...a, queryType: 'detections' }));
  });
});

describe('DataSource live queries', () => {
  let streams: LiveDataStreamOptions[];

  beforeEach(() => {
    streams = [];
    setGrafanaLiveSrv({
      getDataStream: (options: LiveDataStreamOptions) => {
        streams.push(options);
        return of({ data: [], key: options.key, state: LoadingState.Streaming });
      },
    } as unknown as GrafanaLiveSrv);
    setTemplateSrv(new FakeTemplateSrv({ verb: 'delete' }));
  });

  afterEach(() => jest.restoreAllMocks());

  function newDataSource() {
    return new DataSource({
      id: 1,
      uid: 'audit-uid',
      type: 'k8saudit-auditlogs-datasource',
      name: 'Kubernetes Audit Logs',
      access: 'proxy',
      readOnly: false,
      jsonData: {},
      meta: { id: 'k8saudit-auditlogs-datasource' },
    } as unknown as DataSourceInstanceSettings<AuditDataSourceOptions>);
  }

  it('subscribes each live query to its tail channel with the interpolated query as data', async () => {
    const backend = jest.spyOn(DataSourceWithBackend.prototype, 'query').mockReturnValue(of({ data: [] }));
    const ds = newDataSource();
    const events: AuditQuery = { refId: 'A', queryType: 'events', filter: { verbs: ['$verb'] } };
    const series: AuditQuery = { refId: 'C', queryType: 'timeseries' };
    const out = await firstValueFrom(ds.query(request([events, series], true)).pipe(toArray()));

    expect(streams).toHaveLength(1);
    const addr = streams[0].addr;
    expect(addr.scope).toBe(LiveChannelScope.DataSource);
    expect(addr.stream).toBe('audit-uid');
    const data = addr.data as AuditQuery;
    expect(data.filter?.verbs).toEqual(['delete']);
    expect(addr.path).toBe(`tail/${liveStreamKey(data)}`);
    expect(streams[0].buffer?.maxLength).toBe(500);
    // The other query runs in the backend as usual.
    expect(backend).toHaveBeenCalledTimes(1);
    expect(backend.mock.calls[0][0].targets).toEqual([series]);
    expect(out.some((r) => r.state === LoadingState.Streaming)).toBe(true);
  });

  it('runs everything in the backend when nothing streams', async () => {
    const backend = jest.spyOn(DataSourceWithBackend.prototype, 'query').mockReturnValue(of({ data: [] }));
    const ds = newDataSource();
    await firstValueFrom(ds.query(request([{ refId: 'A', queryType: 'events' }])));
    expect(streams).toHaveLength(0);
    expect(backend).toHaveBeenCalledTimes(1);
  });
});

describe('plugin.json', () => {
  it("declares streaming, which enables Explore's Live button", () => {
    expect((plugin as { streaming?: boolean }).streaming).toBe(true);
  });
});
