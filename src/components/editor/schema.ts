import { useEffect, useState } from 'react';

import {
  DEFAULT_QUANTILES,
  DIMENSIONS,
  DimensionInfo,
  QUERY_TYPES,
  QueryFormat,
  QueryType,
  SCHEMA_VERSION,
  Severity,
} from '../../types';
import { DETECTION_RULES, SEVERITIES } from './model';

/**
 * GET /schema: what the backend's query model accepts (pkg/query type_<name>.go, pkg/detect). The
 * editor reads formats, limits and defaults from it; {@link FALLBACK_SCHEMA} stands in while it
 * loads, when the request fails, and for whatever the answer lacks.
 */
export interface QuerySchema {
  schemaVersion: number;
  /** In the editor's order. */
  queryTypes: readonly QueryTypeSchema[];
  dimensions: readonly DimensionInfo[];
  rules: readonly DetectionRuleInfo[];
  severities: readonly Severity[];
}

/** One query type of {@link QuerySchema}. */
export interface QueryTypeSchema {
  name: QueryType;
  label: string;
  description: string;
  /** The formats it answers in, the default first; empty when the type has one shape. */
  formats: readonly QueryFormat[];
  defaultFormat?: QueryFormat;
  /** timeseries: count | rate, the default first. */
  metrics?: readonly string[];
  /** topn: what rows can be ranked by before the limit, the default first. */
  sortBy?: readonly string[];
  /** `limit`: its default, its maximum (a larger one is an error) and what it counts. */
  limits: { default: number; max: number; of: string };
  /** latency: quantiles lie in (min, max]. */
  quantiles?: { min: number; max: number };
  /** What the backend fills in when the query leaves it empty. */
  defaults: QueryTypeDefaults;
}

export interface QueryTypeDefaults {
  metric?: string;
  quantiles?: readonly number[];
  groupBy?: readonly string[];
  rows?: string;
  columns?: string;
  stages?: readonly string[];
}

/** A detection rule of the catalogue (docs/detections.md). */
export interface DetectionRuleInfo {
  id: string;
  severity: Severity;
  title?: string;
  description?: string;
}

type TypeFacts = Omit<QueryTypeSchema, 'name' | 'label' | 'description' | 'defaultFormat'>;

/**
 * The backend's query types as of this plugin version (pkg/query type_<name>.go): the one copy
 * the editor keeps, for when GET /schema is not (yet) there.
 */
const FALLBACK_TYPES: Record<QueryType, TypeFacts> = {
  timeseries: {
    formats: [],
    metrics: ['count', 'rate'],
    limits: { default: 10, max: 500, of: 'series' },
    defaults: { metric: 'count' },
  },
  latency: {
    formats: ['timeseries', 'heatmap'],
    limits: { default: 10, max: 500, of: 'series' },
    quantiles: { min: 0, max: 1 },
    defaults: { quantiles: DEFAULT_QUANTILES },
  },
  denied: { formats: [], limits: { default: 100, max: 10000, of: 'rows' }, defaults: {} },
  topn: {
    formats: [],
    sortBy: ['requests', 'errors', 'denied', 'p99'],
    limits: { default: 10, max: 1000, of: 'rows' },
    defaults: { groupBy: ['user.username'] },
  },
  matrix: {
    formats: [],
    limits: { default: 10, max: 100, of: 'values on each axis' },
    defaults: { rows: 'user.username', columns: 'objectRef.resource' },
  },
  events: { formats: ['logs', 'table'], limits: { default: 100, max: 5000, of: 'events' }, defaults: {} },
  detections: {
    formats: ['table', 'timeseries'],
    limits: { default: 100, max: 10000, of: 'findings' },
    defaults: { stages: ['ResponseStarted', 'ResponseComplete', 'Panic'] },
  },
  latencyBreakdown: {
    formats: ['timeseries', 'table'],
    limits: { default: 20, max: 5000, of: 'slowest requests' },
    defaults: {},
  },
  deprecatedApis: {
    formats: [],
    limits: { default: 100, max: 5000, of: 'rows' },
    defaults: {
      groupBy: ['userAgent', 'user.username', 'objectRef.apiGroup', 'objectRef.apiVersion', 'objectRef.resource'],
    },
  },
  objectHistory: { formats: [], limits: { default: 1000, max: 10000, of: 'actions' }, defaults: {} },
  pipelineHealth: {
    formats: ['table', 'timeseries'],
    limits: { default: 10, max: 500, of: 'origins' },
    defaults: { stages: ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] },
  },
};

/** The schema the editor uses until (or unless) the backend's arrives. */
export const FALLBACK_SCHEMA: QuerySchema = {
  schemaVersion: SCHEMA_VERSION,
  queryTypes: QUERY_TYPES.map((t) => {
    const facts = FALLBACK_TYPES[t.value];
    return { name: t.value, label: t.label, description: t.description, ...facts, defaultFormat: facts.formats[0] };
  }),
  dimensions: DIMENSIONS,
  rules: DETECTION_RULES,
  severities: SEVERITIES,
};

const KNOWN_TYPES = new Set<string>(QUERY_TYPES.map((t) => t.value));
const KNOWN_FORMATS = new Set<string>(['timeseries', 'heatmap', 'logs', 'table']);
const KNOWN_SEVERITIES = new Set<string>(SEVERITIES);

/** The schema of one query type: the backend's, else the fallback's. */
export function typeSchema(schema: QuerySchema, type: QueryType): QueryTypeSchema {
  return schema.queryTypes.find((t) => t.name === type) ?? FALLBACK_SCHEMA.queryTypes.find((t) => t.name === type)!;
}

/** The formats of a query type, the default first; empty when it has one shape. */
export function formatsOf(schema: QuerySchema, type: QueryType): readonly QueryFormat[] {
  return typeSchema(schema, type).formats;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;
const strings = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined;
const numbers = (v: unknown): number[] | undefined =>
  Array.isArray(v) && v.every((n) => typeof n === 'number' && Number.isFinite(n)) ? (v as number[]) : undefined;

function parseDefaults(raw: unknown, fallback: QueryTypeDefaults): QueryTypeDefaults {
  if (!isRecord(raw)) {
    return fallback;
  }
  const out: QueryTypeDefaults = {};
  const str = (k: 'metric' | 'rows' | 'columns') => isString(raw[k]) && (out[k] = raw[k] as string);
  str('metric');
  str('rows');
  str('columns');
  const quantiles = numbers(raw.quantiles);
  if (quantiles?.length) {
    out.quantiles = quantiles;
  }
  for (const k of ['groupBy', 'stages'] as const) {
    const list = strings(raw[k]);
    if (list?.length) {
      out[k] = list;
    }
  }
  return out;
}

/** One query type of the backend's answer over its fallback; undefined for types the editor does not know. */
function parseType(raw: unknown): QueryTypeSchema | undefined {
  if (!isRecord(raw) || !isString(raw.name) || !KNOWN_TYPES.has(raw.name)) {
    return undefined;
  }
  const fallback = typeSchema(FALLBACK_SCHEMA, raw.name as QueryType);
  const formats = strings(raw.formats)?.filter((f): f is QueryFormat => KNOWN_FORMATS.has(f)) ?? fallback.formats;
  const limits = isRecord(raw.limits) ? raw.limits : {};
  const def = isCount(limits.default) ? limits.default : fallback.limits.default;
  const max = isCount(limits.max) && limits.max >= def ? limits.max : Math.max(def, fallback.limits.max);
  const out: QueryTypeSchema = {
    name: fallback.name,
    label: isString(raw.label) ? raw.label : fallback.label,
    description: isString(raw.description) ? raw.description : fallback.description,
    formats,
    defaultFormat: formats[0],
    limits: { default: def, max, of: isString(limits.of) ? limits.of : fallback.limits.of },
    defaults: parseDefaults(raw.defaults, fallback.defaults),
  };
  const metrics = strings(raw.metrics);
  if (metrics?.length || fallback.metrics) {
    out.metrics = metrics?.length ? metrics : fallback.metrics;
  }
  const sortBy = strings(raw.sortBy);
  if (sortBy?.length || fallback.sortBy) {
    out.sortBy = sortBy?.length ? sortBy : fallback.sortBy;
  }
  const q = raw.quantiles;
  if (isRecord(q) && typeof q.min === 'number' && typeof q.max === 'number' && q.min < q.max) {
    out.quantiles = { min: q.min, max: q.max };
  } else if (fallback.quantiles) {
    out.quantiles = fallback.quantiles;
  }
  return out;
}

/**
 * The backend's GET /schema answer as a {@link QuerySchema}: what is malformed or missing is taken
 * from {@link FALLBACK_SCHEMA}, query types the editor does not know are left out, and types the
 * answer does not list keep their fallback (after the listed ones).
 */
export function parseSchema(raw: unknown): QuerySchema {
  if (!isRecord(raw)) {
    return FALLBACK_SCHEMA;
  }
  const types = Array.isArray(raw.queryTypes)
    ? raw.queryTypes.map(parseType).filter((t): t is QueryTypeSchema => t !== undefined)
    : [];
  const listed = new Set(types.map((t) => t.name));
  const queryTypes = [...types, ...FALLBACK_SCHEMA.queryTypes.filter((t) => !listed.has(t.name))];

  const dims = Array.isArray(raw.dimensions)
    ? raw.dimensions.filter((d): d is DimensionInfo => isRecord(d) && isString(d.name))
    : [];
  const rules = Array.isArray(raw.rules)
    ? raw.rules
        .filter((r) => isRecord(r) && isString(r.id) && KNOWN_SEVERITIES.has(r.severity as string))
        .map((r) => {
          const { id, severity, title, description } = r as Record<string, string>;
          return { id, severity: severity as Severity, title, description };
        })
    : [];
  const severities = strings(raw.severities)?.filter((s): s is Severity => KNOWN_SEVERITIES.has(s)) ?? [];
  return {
    schemaVersion: typeof raw.schemaVersion === 'number' ? raw.schemaVersion : SCHEMA_VERSION,
    queryTypes,
    dimensions:
      dims.length > 0 ? dims.map((d) => ({ name: d.name, label: d.label || d.name })) : FALLBACK_SCHEMA.dimensions,
    rules: rules.length > 0 ? rules : FALLBACK_SCHEMA.rules,
    severities: severities.length > 0 ? severities : FALLBACK_SCHEMA.severities,
  };
}

/** The datasource method the editor reads the schema with. */
export interface SchemaSource {
  /** GET /schema, parsed by {@link parseSchema}. */
  getSchema(): Promise<QuerySchema>;
}

interface Cached {
  promise: Promise<QuerySchema>;
  value?: QuerySchema;
}

const schemaCache = new WeakMap<object, Cached>();

/**
 * The schema of a datasource, fetched once per datasource (failures are not kept: the next editor
 * asks again). Without getSchema, the fallback.
 */
export function loadSchema(datasource: Partial<SchemaSource> | undefined): Promise<QuerySchema> {
  if (!datasource || typeof datasource.getSchema !== 'function') {
    return Promise.resolve(FALLBACK_SCHEMA);
  }
  let cached = schemaCache.get(datasource);
  if (!cached) {
    const entry: Cached = { promise: Promise.resolve(datasource.getSchema()) };
    entry.promise.then(
      (value) => (entry.value = value),
      () => schemaCache.get(datasource) === entry && schemaCache.delete(datasource)
    );
    schemaCache.set(datasource, entry);
    cached = entry;
  }
  return cached.promise;
}

/** The schema of a datasource, once loaded: the fallback before that or when it fails. */
export function useSchema(datasource: Partial<SchemaSource> | undefined): QuerySchema {
  const [schema, setSchema] = useState<QuerySchema>(
    () => (datasource && schemaCache.get(datasource)?.value) || FALLBACK_SCHEMA
  );
  useEffect(() => {
    let active = true;
    loadSchema(datasource).then(
      (s) => active && setSchema(s),
      () => active && setSchema(FALLBACK_SCHEMA)
    );
    return () => {
      active = false;
    };
  }, [datasource]);
  return schema;
}
