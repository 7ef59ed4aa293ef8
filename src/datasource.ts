import {
  AnnotationEvent,
  CoreApp,
  CustomVariableSupport,
  DataFrame,
  DataFrameType,
  DataQueryRequest,
  DataQueryResponse,
  DataSourceInstanceSettings,
  Field,
  FieldType,
  MetricFindValue,
  ScopedVars,
  TimeRange,
} from '@grafana/data';
import { DataSourceWithBackend, getTemplateSrv, TemplateSrv } from '@grafana/runtime';
import { from, map, merge, Observable, of } from 'rxjs';

import { liveTargets, runLiveQueries } from './live';

import { parseSchema, QuerySchema } from './components/editor/schema';
import { VariableQueryEditor } from './components/editor/VariableQueryEditor';
import {
  AuditDataSourceOptions,
  AuditFilter,
  AuditQuery,
  AuditVariableQuery,
  DEFAULT_ANNOTATION_QUERY,
  DEFAULT_QUERY,
  DimensionInfo,
  DimensionValue,
  DetectionAllow,
  FILTER_LIST_KEYS,
  Severity,
} from './types';

/**
 * A thin DataSourceWithBackend: defaults, template-variable interpolation and filtering of hidden
 * queries. Parsing, defaults that matter, validation and all data work happen in Go (pkg/query).
 */
export class DataSource extends DataSourceWithBackend<AuditQuery, AuditDataSourceOptions> {
  constructor(instanceSettings: DataSourceInstanceSettings<AuditDataSourceOptions>) {
    super(instanceSettings);
    // Annotation queries are ordinary queries (same editor, run in the backend); their frames
    // become events with a readable title, text and tags (framesToAnnotations).
    this.annotations = {
      getDefaultQuery: () => DEFAULT_ANNOTATION_QUERY,
      processEvents: (_anno, frames) => of(framesToAnnotations(frames)),
    };
    this.variables = new AuditVariableSupport(this);
  }

  getDefaultQuery(_: CoreApp): Partial<AuditQuery> {
    return DEFAULT_QUERY;
  }

  filterQuery(query: AuditQuery): boolean {
    return !query.hide;
  }

  /**
   * Events and detections queries stream over Grafana Live when Explore's Live mode asks
   * (request.liveStreaming) or the query sets `stream: true` (live.ts); the others, and every
   * query otherwise, run in the backend as usual.
   */
  query(request: DataQueryRequest<AuditQuery>): Observable<DataQueryResponse> {
    const live = liveTargets(request);
    if (live.length === 0) {
      return super.query(request);
    }
    const streams = runLiveQueries(
      this.uid,
      request,
      live.map((q) => this.applyTemplateVariables(q, request.scopedVars))
    );
    const rest = request.targets.filter((t) => !live.includes(t));
    return rest.length > 0 ? merge(super.query({ ...request, targets: rest }), streams) : streams;
  }

  /**
   * Interpolates every string of the query. In lists (filter lists, groupBy) a multi-value
   * variable becomes several entries: `users: ["$user"]` with $user = [alice, bob] gives
   * `["alice", "bob"]`, and `["!system:serviceaccount:$ns:*"]` with $ns = [a, b] gives
   * `["!system:serviceaccount:a:*", "!system:serviceaccount:b:*"]`.
   */
  applyTemplateVariables(query: AuditQuery, scopedVars: ScopedVars): AuditQuery {
    return interpolateQuery(query, scopedVars, getTemplateSrv());
  }

  /** The dimensions the backend can filter and group by (GET /dimensions). */
  getDimensions(): Promise<DimensionInfo[]> {
    return this.getResource<DimensionInfo[]>('dimensions');
  }

  /**
   * What the backend's query model accepts (GET /schema): query types with their formats, limits
   * and defaults, dimensions and detection rules. Editors fetch it once per datasource
   * (components/editor/schema.ts loadSchema).
   */
  getSchema(): Promise<QuerySchema> {
    return this.getResource<unknown>('schema').then(parseSchema);
  }

  /**
   * The values of a dimension in a time range, most frequent first (GET /values). Without a
   * range the backend uses the last 6 hours.
   */
  getValues(dim: string, range?: TimeRange, limit?: number, filter?: AuditFilter): Promise<DimensionValue[]> {
    const params: Record<string, string | number> = { dim: getTemplateSrv().replace(dim) };
    if (range) {
      params.from = range.from.valueOf();
      params.to = range.to.valueOf();
    }
    if (limit !== undefined) {
      params.limit = limit;
    }
    if (filter && Object.keys(filter).length > 0) {
      params.filter = JSON.stringify(filter);
    }
    return this.getResource<DimensionValue[]>('values', params);
  }

  /**
   * The values of a variable query: `dim`'s values over the range, most frequent first. Template
   * variables in `dim` and `filter` are interpolated (so one variable can narrow another).
   */
  async metricFindQuery(
    query: AuditVariableQuery,
    options?: { range?: TimeRange; scopedVars?: ScopedVars }
  ): Promise<MetricFindValue[]> {
    if (!query?.dim) {
      return [];
    }
    const scopedVars = options?.scopedVars ?? {};
    const templateSrv = getTemplateSrv();
    const dim = templateSrv.replace(query.dim, scopedVars);
    const filter = query.filter
      ? interpolateQuery({ refId: 'var', filter: query.filter }, scopedVars, templateSrv).filter
      : undefined;
    const values = await this.getValues(dim, options?.range, query.limit, pruneFilter(filter));
    return values.map((v) => ({ text: v.value, value: v.value }));
  }
}

/** Drops empty lists and strings so that only a meaningful filter is sent. */
function pruneFilter(filter: AuditFilter | undefined): AuditFilter | undefined {
  if (!filter) {
    return undefined;
  }
  const out: AuditFilter = {};
  for (const key of FILTER_LIST_KEYS) {
    if (filter[key]?.length) {
      out[key] = filter[key];
    }
  }
  if (filter.search) {
    out.search = filter.search;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Query variables over any dimension, backed by GET /values with the dashboard's time range.
 * The variable query is {@link AuditVariableQuery}: `{"dim": "objectRef.namespace"}`.
 */
export class AuditVariableSupport extends CustomVariableSupport<DataSource, AuditVariableQuery> {
  editor = VariableQueryEditor;

  constructor(private readonly datasource: DataSource) {
    super();
  }

  query(request: DataQueryRequest<AuditVariableQuery>): Observable<DataQueryResponse> {
    const query = request.targets[0];
    return from(this.datasource.metricFindQuery(query, { range: request.range, scopedVars: request.scopedVars })).pipe(
      map((data) => ({ data }))
    );
  }
}

// --- annotations ---------------------------------------------------------------------------

const TAG_LABELS = ['verb', 'user', 'namespace', 'resource', 'code'];

function fieldByName(frame: DataFrame, ...names: string[]): Field | undefined {
  for (const name of names) {
    const f = frame.fields.find((field) => field.name === name);
    if (f) {
      return f;
    }
  }
  return undefined;
}

function str(field: Field | undefined, i: number): string {
  const v = field?.values[i];
  return v === undefined || v === null ? '' : String(v);
}

function parseLabels(v: unknown): Record<string, string> {
  if (v && typeof v === 'object') {
    return v as Record<string, string>;
  }
  if (typeof v === 'string' && v !== '') {
    try {
      const parsed = JSON.parse(v);
      return parsed && typeof parsed === 'object' ? parsed : {};
    } catch {
      return {};
    }
  }
  return {};
}

/** "create pods/exec default/web-1" from an event's fields. */
function what(verb: string, resource: string, sub: string, ns: string, name: string): string {
  const res = sub ? `${resource}/${sub}` : resource;
  const obj = ns && name ? `${ns}/${name}` : name || (ns ? `in ${ns}` : '');
  return [verb, res, obj].filter((s) => s !== '').join(' ');
}

/**
 * Turns the frames of an annotation query into events: one per log line (events, logs format),
 * per table row that has a time (events table, denied, detection findings), or per non-zero
 * point of a time series. A finding keeps its rule and severity (as tags, and in the title with
 * the rule's title) and its detail (the text).
 */
export function framesToAnnotations(frames: DataFrame[]): AnnotationEvent[] {
  const out: AnnotationEvent[] = [];
  for (const frame of frames) {
    const type = frame.meta?.type;
    if (type === DataFrameType.TimeSeriesWide) {
      out.push(...seriesAnnotations(frame));
      continue;
    }
    const time = fieldByName(frame, 'timestamp', 'time') ?? frame.fields.find((f) => f.type === FieldType.time);
    if (!time) {
      continue;
    }
    const body = fieldByName(frame, 'body');
    const labels = fieldByName(frame, 'labels');
    const verb = fieldByName(frame, 'verb');
    const user = fieldByName(frame, 'user');
    const resource = fieldByName(frame, 'resource');
    const sub = fieldByName(frame, 'subresource');
    const ns = fieldByName(frame, 'namespace');
    const name = fieldByName(frame, 'name');
    const code = fieldByName(frame, 'code');
    const reason = fieldByName(frame, 'reason');
    const uri = fieldByName(frame, 'requestURI');
    const id = fieldByName(frame, 'id', 'auditID');
    // Detection findings (detections, table format).
    const rule = fieldByName(frame, 'rule');
    const ruleTitle = fieldByName(frame, 'title');
    const severity = fieldByName(frame, 'severity');
    const detail = fieldByName(frame, 'detail');
    const count = fieldByName(frame, 'count');
    for (let i = 0; i < frame.length; i++) {
      const t = time.values[i];
      if (t === undefined || t === null) {
        continue;
      }
      const l = parseLabels(labels?.values[i]);
      const get = (field: Field | undefined, label: string) => str(field, i) || (l[label] ?? '');
      const who = get(user, 'user');
      let title =
        what(
          get(verb, 'verb'),
          get(resource, 'resource'),
          get(sub, 'subresource'),
          get(ns, 'namespace'),
          get(name, 'name')
        ) + (who ? ` by ${who}` : '');
      const details = [str(code, i) && `code ${str(code, i)}`, str(reason, i), str(uri, i)].filter((s) => s);
      const finding = str(rule, i);
      if (finding) {
        // "[high] Exec into a pod: create pods/exec payments/web-1 by alice"
        const sev = str(severity, i);
        const head = str(ruleTitle, i) || finding;
        title = `${sev ? `[${sev}] ` : ''}${head}${title ? `: ${title}` : ''}`;
        const repeats = Number(count?.values[i] ?? 1);
        details.unshift(
          ...[
            str(detail, i),
            `rule ${finding}${sev ? `, severity ${sev}` : ''}${repeats > 1 ? `, ${repeats} times` : ''}`,
          ].filter((s) => s)
        );
      }
      const text = str(body, i) || details.join('\n') || title;
      const tags = [
        ...(finding ? [finding, str(severity, i)] : []),
        ...TAG_LABELS.map((k) => (k === 'code' ? str(code, i) || l.code : get(fieldByName(frame, k), k))),
      ]
        .filter((v): v is string => !!v)
        .map(String);
      out.push({
        time: typeof t === 'number' ? t : new Date(t).valueOf(),
        title: title || undefined,
        text: details.length && str(body, i) ? `${text}\n${details.join('\n')}` : text,
        tags,
        id: str(id, i) || undefined,
      });
    }
  }
  return out;
}

function seriesAnnotations(frame: DataFrame): AnnotationEvent[] {
  const time = frame.fields.find((f) => f.type === FieldType.time);
  if (!time) {
    return [];
  }
  const out: AnnotationEvent[] = [];
  for (const field of frame.fields) {
    if (field.type !== FieldType.number) {
      continue;
    }
    const labels = Object.entries(field.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    for (let i = 0; i < frame.length; i++) {
      const v = field.values[i];
      if (typeof v !== 'number' || v === 0 || Number.isNaN(v)) {
        continue;
      }
      out.push({
        time: time.values[i],
        title: labels || field.name,
        text: `${field.name} ${v}${labels ? ` (${labels})` : ''}`,
        tags: Object.values(field.labels ?? {}),
      });
    }
  }
  return out;
}

// Multi-value variables are formatted as OPEN value SEP value ... CLOSE, then expanded into one
// list entry per combination. Control characters cannot come from a variable's value in any
// sensible audit field, so they are safe markers.
const OPEN = '\u0001';
const SEP = '\u0002';
const CLOSE = '\u0003';

function markMultiValue(value: unknown): string {
  if (Array.isArray(value)) {
    const values = value.map(String);
    if (values.length === 1) {
      return values[0];
    }
    return OPEN + values.join(SEP) + CLOSE;
  }
  return value === undefined || value === null ? '' : String(value);
}

/** Expands every marked group into one string per combination of values. */
function expandMarked(s: string): string[] {
  const start = s.indexOf(OPEN);
  if (start < 0) {
    return [s];
  }
  const end = s.indexOf(CLOSE, start);
  if (end < 0) {
    return [s];
  }
  const head = s.slice(0, start);
  const alternatives = s.slice(start + 1, end).split(SEP);
  const tails = expandMarked(s.slice(end + 1));
  const out: string[] = [];
  for (const alt of alternatives) {
    for (const tail of tails) {
      out.push(head + alt + tail);
    }
  }
  return out;
}

/** Interpolates each entry of a list; multi-value variables add entries. Empty entries are dropped. */
export function interpolateList(
  list: string[] | undefined,
  scopedVars: ScopedVars,
  templateSrv: TemplateSrv
): string[] | undefined {
  if (!list) {
    return list;
  }
  const out: string[] = [];
  for (const entry of list) {
    if (typeof entry !== 'string') {
      // Tolerate hand-written queries such as codes: [403]; the backend accepts numbers too.
      out.push(String(entry));
      continue;
    }
    const replaced = templateSrv.replace(entry, scopedVars, markMultiValue);
    for (const v of expandMarked(replaced)) {
      const trimmed = v.trim();
      if (trimmed !== '') {
        out.push(trimmed);
      }
    }
  }
  return out;
}

function interpolateString(s: string | undefined, scopedVars: ScopedVars, templateSrv: TemplateSrv) {
  return s === undefined || s === '' ? s : templateSrv.replace(s, scopedVars);
}

export function interpolateQuery(query: AuditQuery, scopedVars: ScopedVars, templateSrv: TemplateSrv): AuditQuery {
  const result: AuditQuery = {
    ...query,
    groupBy: interpolateList(query.groupBy, scopedVars, templateSrv),
    rows: interpolateString(query.rows, scopedVars, templateSrv),
    columns: interpolateString(query.columns, scopedVars, templateSrv),
  };
  if (query.filter) {
    const filter: AuditFilter = { ...query.filter };
    for (const key of FILTER_LIST_KEYS) {
      if (filter[key]) {
        filter[key] = interpolateList(filter[key], scopedVars, templateSrv);
      }
    }
    filter.search = interpolateString(filter.search, scopedVars, templateSrv);
    result.filter = filter;
  }
  // Detections: rule ids, severities and allow-lists take variables too.
  if (query.rules) {
    result.rules = interpolateList(query.rules, scopedVars, templateSrv);
  }
  if (query.severities) {
    result.severities = interpolateList(query.severities, scopedVars, templateSrv) as Severity[] | undefined;
  }
  if (query.allow) {
    const allow: DetectionAllow = {};
    for (const key of ['users', 'groups', 'namespaces', 'images', 'sourceNetworks'] as const) {
      const v = interpolateList(query.allow[key], scopedVars, templateSrv);
      if (v?.length) {
        allow[key] = v;
      }
    }
    result.allow = allow;
  }
  // Keep absent fields absent rather than present-but-undefined.
  for (const key of ['groupBy', 'rows', 'columns'] as const) {
    if (query[key] === undefined) {
      delete result[key];
    }
  }
  if (result.filter && query.filter?.search === undefined) {
    delete result.filter.search;
  }
  return result;
}
