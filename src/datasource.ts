import { CoreApp, DataSourceInstanceSettings, ScopedVars, TimeRange } from '@grafana/data';
import { DataSourceWithBackend, getTemplateSrv, TemplateSrv } from '@grafana/runtime';

import {
  AuditDataSourceOptions,
  AuditFilter,
  AuditQuery,
  DEFAULT_QUERY,
  DimensionInfo,
  DimensionValue,
  FILTER_LIST_KEYS,
} from './types';

/**
 * A thin DataSourceWithBackend: defaults, template-variable interpolation and filtering of hidden
 * queries. Parsing, defaults that matter, validation and all data work happen in Go (pkg/query).
 */
export class DataSource extends DataSourceWithBackend<AuditQuery, AuditDataSourceOptions> {
  constructor(instanceSettings: DataSourceInstanceSettings<AuditDataSourceOptions>) {
    super(instanceSettings);
    // Standard annotation support: annotation queries use the query editor and run in the backend.
    this.annotations = {};
  }

  getDefaultQuery(_: CoreApp): Partial<AuditQuery> {
    return DEFAULT_QUERY;
  }

  filterQuery(query: AuditQuery): boolean {
    return !query.hide;
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
   * The values of a dimension in a time range, most frequent first (GET /values). Without a
   * range the backend uses the last 6 hours.
   */
  getValues(dim: string, range?: TimeRange, limit?: number): Promise<DimensionValue[]> {
    const params: Record<string, string | number> = { dim: getTemplateSrv().replace(dim) };
    if (range) {
      params.from = range.from.valueOf();
      params.to = range.to.valueOf();
    }
    if (limit !== undefined) {
      params.limit = limit;
    }
    return this.getResource<DimensionValue[]>('values', params);
  }
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
