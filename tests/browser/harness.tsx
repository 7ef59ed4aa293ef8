/**
 * The page the browser tests drive: the plugin's query editor or config editor, rendered with
 * @grafana/ui's dark theme the way Grafana renders them, over a fake datasource whose GET /values
 * and GET /dimensions answer fixed data.
 *
 *   /?editor=query                 the query editor over a new query (the datasource's default)
 *   /?editor=query&query=<json>    ... over that query
 *   /?editor=config                the config editor of a new datasource
 *   /?editor=live&bridge=<url>     the plugin's DataSource.query in Explore's Live mode, over
 *                                  the live bridge (live.ts, pkg/e2e/livebridge_test.go)
 *
 * Every change is recorded where the tests read it: the query in `window.__lastQuery` and in
 * <pre data-testid="query-json">, the settings in `window.__lastOptions` and
 * <pre data-testid="options-json">, and the number of query runs in `window.__runs`.
 */
import React, { useEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import {
  CoreApp,
  DataFrame,
  DataQueryRequest,
  DataQueryResponse,
  DataSourceInstanceSettings,
  createTheme,
  DataSourceSettings,
  dateTime,
  TimeRange,
} from '@grafana/data';
import { setGrafanaLiveSrv, setTemplateSrv, TemplateSrv } from '@grafana/runtime';
import { Button, GlobalStyles, PortalContainer, ThemeContext } from '@grafana/ui';
import { Subscription } from 'rxjs';

import { ConfigEditor } from '../../src/components/ConfigEditor';
import { QueryEditor } from '../../src/components/QueryEditor';
import { DataSource } from '../../src/datasource';
import { BridgeLiveSrv } from './live';
import {
  AuditDataSourceOptions,
  AuditQuery,
  AuditSecureJsonData,
  DEFAULT_QUERY,
  DimensionInfo,
  DimensionValue,
} from '../../src/types';

declare global {
  interface Window {
    __lastQuery?: AuditQuery;
    __lastOptions?: Settings;
    __runs: number;
    __valuesRequests: string[];
    __live?: BridgeLiveSrv;
  }
}

type Settings = DataSourceSettings<AuditDataSourceOptions, AuditSecureJsonData>;

const RANGE: TimeRange = {
  from: dateTime(Date.UTC(2024, 0, 1, 10)),
  to: dateTime(Date.UTC(2024, 0, 1, 11)),
  raw: { from: 'now-1h', to: 'now' },
};

/** What GET /values answers, per dimension. */
const VALUES: Record<string, DimensionValue[]> = {
  verb: [
    { value: 'get', count: 1234 },
    { value: 'list', count: 560 },
    { value: 'watch', count: 78 },
    { value: 'create', count: 12 },
  ],
  'user.username': [
    { value: 'alice', count: 42 },
    { value: 'system:node:node-1', count: 9 },
  ],
  'objectRef.namespace': [
    { value: 'default', count: 300 },
    { value: 'kube-system', count: 200 },
    { value: 'team-a', count: 50 },
  ],
  'objectRef.resource': [
    { value: 'pods', count: 400 },
    { value: 'secrets', count: 20 },
  ],
};

/** What GET /dimensions answers. */
const DIMENSIONS: DimensionInfo[] = [
  { name: 'verb', label: 'Verb' },
  { name: 'user.username', label: 'User' },
  { name: 'objectRef.namespace', label: 'Namespace' },
  { name: 'objectRef.resource', label: 'Resource' },
  { name: 'responseStatus.code', label: 'Code' },
];

window.__runs = 0;
window.__valuesRequests = [];

const fakeDataSource = {
  getDimensions: () => Promise.resolve(DIMENSIONS),
  getValues: (dim: string) => {
    window.__valuesRequests.push(dim);
    return Promise.resolve(VALUES[dim] ?? []);
  },
} as unknown as DataSource;

const NEW_DATASOURCE: Settings = {
  id: 1,
  uid: 'k8saudit-browser-test',
  orgId: 1,
  name: 'Kubernetes audit logs',
  type: 'k8saudit-auditlogs-datasource',
  typeName: 'Kubernetes audit logs',
  typeLogoUrl: '',
  access: 'proxy',
  url: '',
  user: '',
  database: '',
  basicAuth: false,
  basicAuthUser: '',
  isDefault: false,
  // A new datasource has empty jsonData: the editor fills in the source.
  jsonData: {} as AuditDataSourceOptions,
  secureJsonFields: {},
  readOnly: false,
  withCredentials: false,
};

/** Holds the query the way Grafana does and records every change. */
function QueryHarness({ initial }: { initial: AuditQuery }) {
  const [query, setQuery] = useState(initial);
  return (
    <>
      <QueryEditor
        datasource={fakeDataSource}
        query={query}
        range={RANGE}
        onChange={(next) => {
          window.__lastQuery = next;
          setQuery(next);
        }}
        onRunQuery={() => {
          window.__runs++;
        }}
      />
      <pre data-testid="query-json">{JSON.stringify(query, null, 2)}</pre>
    </>
  );
}

function ConfigHarness() {
  const [options, setOptions] = useState(NEW_DATASOURCE);
  return (
    <>
      <ConfigEditor
        options={options}
        onOptionsChange={(next) => {
          window.__lastOptions = next;
          setOptions(next);
        }}
      />
      <pre data-testid="options-json">
        {JSON.stringify({ jsonData: options.jsonData, secureJsonData: options.secureJsonData ?? {} }, null, 2)}
      </pre>
    </>
  );
}

/** No dashboard around the page: no variables, every string stays as it is. */
const NO_VARIABLES = {
  getVariables: () => [],
  replace: (target?: string) => target ?? '',
  containsTemplate: () => false,
  updateTimeRange: () => {},
} as unknown as TemplateSrv;

/** The plugin's own DataSource, as Grafana instantiates it for the datasource. */
const LIVE_DATASOURCE = {
  id: 901,
  uid: 'k8saudit-browser-test',
  type: 'k8saudit-auditlogs-datasource',
  name: 'Kubernetes audit logs',
  access: 'proxy',
  jsonData: {},
  readOnly: false,
  meta: { id: 'k8saudit-auditlogs-datasource', name: 'Kubernetes audit logs', type: 'datasource', streaming: true },
} as unknown as DataSourceInstanceSettings<AuditDataSourceOptions>;

/** The rows' auditIDs of a logs frame (its id field is `<auditID>/<stage>`). */
function ids(frame: DataFrame | undefined): string[] {
  const field = frame?.fields.find((f) => f.name === 'id');
  return field ? Array.from(field.values, (v) => String(v).split('/')[0]) : [];
}

/**
 * Runs one events query the way Explore does when Live is on: DataSource.query with
 * liveStreaming, subscribed until Stop. It shows the state, the notices and the streamed rows.
 */
function LiveHarness({ bridge }: { bridge: string }) {
  const [response, setResponse] = useState<DataQueryResponse>();
  const [updates, setUpdates] = useState(0);
  const [stopped, setStopped] = useState(false);
  const sub = useRef<Subscription>();
  useEffect(() => {
    const live = new BridgeLiveSrv(bridge);
    window.__live = live;
    setGrafanaLiveSrv(live);
    setTemplateSrv(NO_VARIABLES);
    const ds = new DataSource(LIVE_DATASOURCE);
    const request = {
      app: CoreApp.Explore,
      requestId: 'explore_live',
      interval: '1s',
      intervalMs: 1000,
      maxDataPoints: 500,
      range: RANGE,
      scopedVars: {},
      startTime: Date.now(),
      timezone: 'utc',
      liveStreaming: true,
      targets: [{ refId: 'A', queryType: 'events', format: 'logs', filter: { verbs: ['get'] } }],
    } as unknown as DataQueryRequest<AuditQuery>;
    sub.current = ds.query(request).subscribe((r) => {
      setResponse(r);
      setUpdates((n) => n + 1);
    });
    return () => sub.current?.unsubscribe();
  }, [bridge]);
  const frame = response?.data?.[0] as DataFrame | undefined;
  const notices = frame?.meta?.notices?.map((n) => `${n.severity}: ${n.text}`) ?? [];
  const errors = response?.errors?.map((e) => e.message) ?? [];
  return (
    <>
      <Button
        onClick={() => {
          sub.current?.unsubscribe();
          setStopped(true);
        }}
      >
        Stop
      </Button>
      <pre data-testid="live-state">{stopped ? 'Stopped' : (response?.state ?? 'Waiting')}</pre>
      <pre data-testid="live-updates">{updates}</pre>
      <pre data-testid="live-notices">{notices.join('\n')}</pre>
      <pre data-testid="live-errors">{errors.join('\n')}</pre>
      <pre data-testid="live-frame">
        {frame ? `${frame.name ?? ''} ${frame.meta?.preferredVisualisationType ?? ''} ${frame.length} rows` : ''}
      </pre>
      <pre data-testid="live-ids">{ids(frame).join('\n')}</pre>
    </>
  );
}

function App() {
  const params = new URLSearchParams(window.location.search);
  const editor = params.get('editor') ?? 'query';
  const raw = params.get('query');
  const initial: AuditQuery = raw ? JSON.parse(raw) : { refId: 'A', ...DEFAULT_QUERY };
  const theme = createTheme({ colors: { mode: 'dark' } });
  return (
    <ThemeContext.Provider value={theme}>
      <GlobalStyles />
      <div data-testid="harness" data-editor={editor} style={{ padding: theme.spacing(2), maxWidth: 1400 }}>
        {editor === 'config' ? (
          <ConfigHarness />
        ) : editor === 'live' ? (
          <LiveHarness bridge={params.get('bridge') ?? ''} />
        ) : (
          <QueryHarness initial={initial} />
        )}
      </div>
      <PortalContainer />
    </ThemeContext.Provider>
  );
}

createRoot(document.getElementById('root')!).render(<App />);
