import { DataSourceJsonData } from '@grafana/data';
import { DataQuery } from '@grafana/schema';

/**
 * Query model v1, mirrored from docs/query-model.md.
 *
 * The Go backend (pkg/query) is authoritative: it parses, migrates, defaults and validates every
 * query, because Grafana alerting runs queries in the backend only. Everything here is optional
 * on purpose: the frontend never has to fill in a default for the query to work.
 */
export const SCHEMA_VERSION = 1;

export type QueryType =
  | 'events'
  | 'timeseries'
  | 'latency'
  | 'denied'
  | 'matrix'
  | 'topn'
  | 'latencyBreakdown'
  | 'deprecatedApis'
  | 'objectHistory'
  | 'pipelineHealth'
  | 'detections';

/** Every query type with a one-line description, in the order the editor shows them. */
export const QUERY_TYPES: ReadonlyArray<{ value: QueryType; label: string; description: string }> = [
  { value: 'timeseries', label: 'Requests', description: 'Request count or rate over time, split by dimensions.' },
  {
    value: 'latency',
    label: 'Latency',
    description: 'Request latency percentiles over time, or a latency heatmap.',
  },
  { value: 'denied', label: 'Denied', description: 'Every 401/403 request, newest first, with the reason.' },
  { value: 'topn', label: 'Top N', description: 'Top values of a dimension by requests, errors, denials or p99.' },
  { value: 'matrix', label: 'Matrix', description: 'Request counts of one dimension against another (who did what).' },
  { value: 'events', label: 'Events', description: 'Matching audit events, newest first, as logs or a table.' },
  {
    value: 'detections',
    label: 'Detections',
    description: 'Security findings: exec into pods, secret harvesting, RBAC escalation, privileged pods and more.',
  },
  {
    value: 'latencyBreakdown',
    label: 'Latency breakdown',
    description: 'Where slow requests spend their time (etcd, webhooks, queueing...), or the slowest requests.',
  },
  {
    value: 'deprecatedApis',
    label: 'Deprecated APIs',
    description: 'Who still calls deprecated APIs, and the release that removes them.',
  },
  {
    value: 'objectHistory',
    label: 'Object history',
    description: 'Every action on one object (filter its name), oldest first, with what changed.',
  },
  {
    value: 'pipelineHealth',
    label: 'Pipeline health',
    description: 'Events per audit file or stream: volume, gaps, malformed and truncated events.',
  },
];

/** Severities of detection rules. */
export type Severity = 'low' | 'medium' | 'high' | 'critical';

/** detections: what the rules must not report. */
export interface DetectionAllow {
  users?: string[];
  groups?: string[];
  namespaces?: string[];
  images?: string[];
  /** CIDRs or IPs. */
  sourceNetworks?: string[];
}

/** Filter lists match ANY of their values; fields combine with AND. `*` is a glob, a leading `!` excludes. */
export interface AuditFilter {
  verbs?: string[];
  users?: string[];
  groups?: string[];
  namespaces?: string[];
  resources?: string[];
  subresources?: string[];
  apiGroups?: string[];
  names?: string[];
  /** Exact codes ("403") or classes ("4xx"). */
  codes?: string[];
  /** allow | forbid */
  decisions?: string[];
  sourceIPs?: string[];
  userAgents?: string[];
  /** human | serviceaccount | node | system | anonymous */
  userKinds?: string[];
  /** Default (backend): ResponseComplete and Panic, so each request counts once. */
  stages?: string[];
  levels?: string[];
  /** Text the raw line or the decoded request URI contains (see searchMode). */
  search?: string;
  /** How `search` matches: text (default, as typed), caseInsensitive, or regex (RE2). */
  searchMode?: SearchMode;
}

export type SearchMode = 'text' | 'caseInsensitive' | 'regex';

/** The list-valued keys of {@link AuditFilter} (everything but `search` and `searchMode`). */
export type AuditFilterListKey = Exclude<keyof AuditFilter, 'search' | 'searchMode'>;

export const FILTER_LIST_KEYS: readonly AuditFilterListKey[] = [
  'verbs',
  'users',
  'groups',
  'namespaces',
  'resources',
  'subresources',
  'apiGroups',
  'names',
  'codes',
  'decisions',
  'sourceIPs',
  'userAgents',
  'userKinds',
  'stages',
  'levels',
];

/** Dimension names (docs/query-model.md "Dimensions"). The backend lists them at GET /dimensions. */
export type Dimension =
  | 'verb'
  | 'user.username'
  | 'user.groups'
  | 'userKind'
  | 'impersonatedUser.username'
  | 'objectRef.resource'
  | 'objectRef.namespace'
  | 'objectRef.name'
  | 'objectRef.subresource'
  | 'objectRef.apiGroup'
  | 'objectRef.apiVersion'
  | 'responseStatus.code'
  | 'decision'
  | 'userAgent'
  | 'sourceIPs'
  | 'stage'
  | 'level';

/** Every dimension with its label, in the backend's display order (pkg/query/dimension.go). */
export const DIMENSIONS: ReadonlyArray<{ name: Dimension; label: string }> = [
  { name: 'verb', label: 'Verb' },
  { name: 'user.username', label: 'User' },
  { name: 'user.groups', label: 'Group' },
  { name: 'userKind', label: 'User kind' },
  { name: 'impersonatedUser.username', label: 'Impersonated user' },
  { name: 'objectRef.resource', label: 'Resource' },
  { name: 'objectRef.namespace', label: 'Namespace' },
  { name: 'objectRef.name', label: 'Name' },
  { name: 'objectRef.subresource', label: 'Subresource' },
  { name: 'objectRef.apiGroup', label: 'API group' },
  { name: 'objectRef.apiVersion', label: 'API version' },
  { name: 'responseStatus.code', label: 'Code' },
  { name: 'decision', label: 'Decision' },
  { name: 'userAgent', label: 'User agent' },
  { name: 'sourceIPs', label: 'Source IP' },
  { name: 'stage', label: 'Stage' },
  { name: 'level', label: 'Level' },
];

export type TimeSeriesMetric = 'count' | 'rate';

/** topn: what rows are ranked by before the limit cuts them (backend default: requests). */
export type TopNSortBy = 'requests' | 'errors' | 'denied' | 'p99';

/** latency: timeseries | heatmap; events: logs | table. */
export type QueryFormat = 'timeseries' | 'heatmap' | 'logs' | 'table';

export interface AuditQuery extends DataQuery {
  /** Absent means 1. */
  schemaVersion?: number;
  /** Default (backend): timeseries. */
  queryType?: QueryType;
  filter?: AuditFilter;
  /** Dimension names. Strings rather than {@link Dimension} so template variables fit. */
  groupBy?: string[];
  /** timeseries: count | rate (per second). */
  metric?: TimeSeriesMetric;
  /** latency, e.g. [0.5, 0.9, 0.99]. */
  quantiles?: number[];
  /** latency/topn: include watch, exec, attach, proxy, log, portforward. */
  includeLongRunning?: boolean;
  /** matrix: the row dimension. */
  rows?: string;
  /** matrix: the column dimension. */
  columns?: string;
  /** topn: rank every group by this, then keep the top `limit` (default requests). */
  sortBy?: TopNSortBy;
  /** Series (timeseries/latency), rows (denied/events/topn), axis size (matrix). */
  limit?: number;
  format?: QueryFormat;
  /** detections: rule ids (`*` globs; all when empty) and severities. */
  rules?: string[];
  severities?: Severity[];
  allow?: DetectionAllow;
  /** detections: 401/403 bursts — how many within which window (e.g. "5m"). */
  burstThreshold?: number;
  burstWindow?: string;
  /** Sources that can count (Loki, CloudWatch): auto, raw (pull lines) or pushdown. */
  sourceMode?: 'auto' | 'raw' | 'pushdown';
}

export const DEFAULT_QUERY: Partial<AuditQuery> = {
  schemaVersion: SCHEMA_VERSION,
  queryType: 'timeseries',
  metric: 'count',
};

/** Quantiles the backend uses for latency queries that set none. */
export const DEFAULT_QUANTILES = [0.5, 0.9, 0.99];

/** Where the audit events come from. Only 'file' is implemented so far. */
export type AuditSource = 'file' | 'loki' | 'cloudwatch';

export interface FileSourceOptions {
  /** Directories, files or glob patterns of kube-apiserver audit logs (`--audit-log-path`). */
  paths: string[];
  /** Lines longer than this are skipped (with a notice). */
  maxLineBytes?: number;
  /** A .gz is read up to this many times its compressed size (default 64): a gzip bomb stops with a notice. */
  maxGzipRatio?: number;
  /** Keep each file's partial results in memory between queries (default true). */
  cache?: boolean;
  /** Bound of that cache in MB (default 512). */
  cacheSizeMB?: number;
  /** Keep a column index of each file on disk (default true). */
  index?: boolean;
  /** Where the index lives (absolute; default a directory under the Grafana user's cache directory). */
  indexDir?: string;
  /** Bound of the index directory in MB (default 2048). */
  indexSizeMB?: number;
}

/**
 * jsonData of a datasource instance:
 * `{"source":"file","file":{"paths":[...],"maxLineBytes":N}}`.
 */
export interface AuditDataSourceOptions extends DataSourceJsonData {
  source: AuditSource;
  file?: FileSourceOptions;
  loki?: LokiSourceOptions;
  cloudwatch?: CloudWatchSourceOptions;
  detections?: DetectionSettings;
  /** How long one query may run, a duration such as 90s or 5m (default 60s, at most 24h). */
  queryTimeout?: string;
  /** Line format of the source (backend package envelope); auto (default) detects it per line. */
  envelope?: Envelope;
}

/** How audit events are wrapped in the source's lines. */
export type Envelope = 'auto' | 'bare' | 'cri' | 'docker' | 'fluentbit' | 'gke' | 'aks';

/**
 * jsonData.detections: datasource-wide allow-lists and tunables of detections queries
 * (pkg/models/detections.go). Every field is optional: absent means the backend default. A
 * query's own `allow` adds to these lists; its burst settings take precedence.
 */
export interface DetectionSettings {
  /** Findings about these are dropped by every rule. */
  allow?: DetectionAllow;
  /** Allow-lists of single rules, by rule id (see DETECTION_RULES). */
  rules?: Record<string, DetectionRuleSettings>;
  /** 401/403 bursts: how many requests (default 10)... */
  burstThreshold?: number;
  /** ... within which window, a Go duration such as "5m" (default 5m). */
  burstWindow?: string;
  /**
   * How far before a query's range detections read role writes, to judge bindings to wildcard
   * roles: "24h", "7d", "90m"; "0" turns it off. Default 24h.
   */
  rbacLookback?: string;
  /**
   * A shipped set of exceptions for what clusters do by design: "knownGood" (kube-state-metrics
   * listing secrets, kube-proxy, aws-node, ebs-csi-node and node-exporter being privileged, EKS's
   * eks:* users). Absent: none.
   */
  profile?: DetectionProfile;
  /**
   * The cluster's own networks (nodes, pods, control plane), CIDRs or IPs: service-account and
   * node credentials, and anonymous requests, from outside them are findings.
   */
  clusterNetworks?: string[];
}

/** The shipped detection profiles (pkg/detect Profiles). */
export const DETECTION_PROFILES = ['knownGood'] as const;
export type DetectionProfile = (typeof DETECTION_PROFILES)[number];

/** jsonData.detections.rules[id]: the allow-lists of one rule. */
export interface DetectionRuleSettings {
  allow: DetectionAllow;
}

/** The lists of {@link DetectionAllow}, in the order editors show them. */
export const DETECTION_ALLOW_KEYS: ReadonlyArray<keyof DetectionAllow> = [
  'users',
  'groups',
  'namespaces',
  'images',
  'sourceNetworks',
];

/** jsonData.loki: see docs/loki.md. Secrets are in secure JSON data (lokiBasicAuthPassword...). */
export interface LokiSourceOptions extends CountCacheOptions {
  url?: string;
  auth?: 'none' | 'basic' | 'bearer';
  basicAuthUser?: string;
  tlsClientAuth?: boolean;
  tlsWithCACert?: boolean;
  tlsSkipVerify?: boolean;
  tlsServerName?: string;
  /** Sent as X-Scope-OrgID. */
  tenant?: string;
  /** Extra headers; their values are secure (lokiHeaderValue1, 2...). */
  headers?: Array<{ name: string }>;
  timeoutSeconds?: number;
  selector?: string;
  maxLines?: number;
  pageSize?: number;
  /** Go duration, e.g. "2m". */
  ingestionLag?: string;
  maxQueryLength?: string;
  notCompactJSON?: boolean;
  /** Requests one count sends to Loki at once (default 4). */
  parallelism?: number;
}

/** The cache of finished count buckets, of Loki and CloudWatch (docs/loki.md, docs/cloudwatch.md). */
export interface CountCacheOptions {
  /** Default true. */
  countCache?: boolean;
  /** Default 64. */
  countCacheMB?: number;
  /** Go duration: a bucket is final once its end is this old (default 5m Loki, 10m CloudWatch). */
  finishedAfter?: string;
}

/** jsonData.cloudwatch: Grafana's AWS conventions (see docs/cloudwatch.md). */
export interface CloudWatchSourceOptions extends CountCacheOptions {
  authType?: 'default' | 'keys' | 'credentials';
  defaultRegion?: string;
  profile?: string;
  assumeRoleArn?: string;
  externalId?: string;
  endpoint?: string;
  clusterName?: string;
  logGroups?: string[];
  streamPrefix?: string;
  maxConcurrentInsights?: number;
  requestsPerSecond?: number;
  /** Ranges longer than this (Go duration) use Logs Insights for counts. */
  insightsAfter?: string;
  /** Logs Insights price per GB scanned (USD), for the cost notice (default 0.005). */
  pricePerGB?: number;
}

/** Default for `file.maxLineBytes` (4 MiB): single audit events can exceed 1 MB. */
export const DEFAULT_MAX_LINE_BYTES = 4 * 1024 * 1024;

/** Values stored encrypted and sent to the backend only: Loki credentials and AWS keys. */
export interface AuditSecureJsonData {
  lokiBasicAuthPassword?: string;
  lokiBearerToken?: string;
  lokiTLSClientCert?: string;
  lokiTLSClientKey?: string;
  lokiTLSCACert?: string;
  accessKey?: string;
  secretKey?: string;
  sessionToken?: string;
}

/** GET /dimensions */
export interface DimensionInfo {
  name: string;
  label: string;
}

/** GET /values */
export interface DimensionValue {
  value: string;
  count: number;
}

/**
 * A query variable: the values of one dimension over the dashboard's time range (GET /values),
 * most frequent first. `filter` narrows the events (template variables allowed, e.g. the
 * namespaces of `$user`).
 */
export interface AuditVariableQuery extends DataQuery {
  /** A dimension name (see {@link DIMENSIONS}); template variables allowed. */
  dim?: string;
  filter?: AuditFilter;
  /** At most this many values (backend default 1000, max 10000). */
  limit?: number;
}

/** Default query of annotations: the matching events as log lines (time + one-line body). */
export const DEFAULT_ANNOTATION_QUERY: Partial<AuditQuery> = {
  schemaVersion: SCHEMA_VERSION,
  queryType: 'events',
  format: 'logs',
  limit: 500,
};
