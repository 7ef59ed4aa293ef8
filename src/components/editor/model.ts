/**
 * What the query editor knows about the query model beyond src/types.ts: which dimension feeds
 * each filter field, the fixed vocabularies the backend validates (pkg/query), dimension aliases
 * and the limits of each query type. The Go backend stays authoritative; these mirror it so the
 * editor can explain a query and catch mistakes before running it.
 */
import { AuditFilterListKey, DIMENSIONS, Severity } from '../../types';

/** Stages of an audit event (pkg/query validStages). */
export const STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
/** Authorization decisions; `none` matches events without one (pkg/query validDecisions). */
export const DECISIONS = ['allow', 'forbid', 'none'] as const;
/** Derived user kinds (pkg/audit UserKinds). */
export const USER_KINDS = ['human', 'serviceaccount', 'node', 'system', 'anonymous'] as const;
/** Audit levels (pkg/query validLevels). */
export const LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'] as const;
export const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
export const METRICS = ['count', 'rate'] as const;
export const SOURCE_MODES = ['auto', 'raw', 'pushdown'] as const;

/** The built-in detection rules (docs/detections.md), offered as suggestions. */
export const DETECTION_RULES: ReadonlyArray<{ id: string; severity: Severity }> = [
  { id: 'exec-into-pod', severity: 'medium' },
  { id: 'risky-exec-command', severity: 'high' },
  { id: 'port-forward', severity: 'medium' },
  { id: 'ephemeral-container', severity: 'medium' },
  { id: 'node-proxy', severity: 'high' },
  { id: 'secret-read-unexpected', severity: 'medium' },
  { id: 'secrets-list-wide', severity: 'high' },
  { id: 'many-secrets-read', severity: 'high' },
  { id: 'anonymous-allowed', severity: 'high' },
  { id: 'denied-burst', severity: 'medium' },
  { id: 'binding-privileged', severity: 'critical' },
  { id: 'binding-to-wildcard-role', severity: 'critical' },
  { id: 'role-dangerous', severity: 'high' },
  { id: 'system-role-modified', severity: 'high' },
  { id: 'rbac-then-workload', severity: 'high' },
  { id: 'privileged-workload', severity: 'high' },
  { id: 'system-namespace-workload', severity: 'medium' },
  { id: 'impersonation-privileged', severity: 'high' },
  { id: 'admission-or-auth-config-change', severity: 'high' },
  { id: 'token-or-csr', severity: 'medium' },
  { id: 'events-deleted', severity: 'medium' },
  { id: 'permission-enumeration', severity: 'medium' },
  { id: 'nodeport-service', severity: 'low' },
  { id: 'configmap-credentials', severity: 'medium' },
  { id: 'system-identity-public-ip', severity: 'high' },
  { id: 'token-outside-cluster', severity: 'high' },
  { id: 'anonymous-outside-cluster', severity: 'low' },
];

/**
 * The dimensions detections in their timeseries format group by: the finding's own fields, which
 * label each series beside rule and severity (pkg/query findingDimensions).
 */
export const FINDING_DIMENSIONS: readonly string[] = [
  'objectRef.name',
  'objectRef.namespace',
  'objectRef.resource',
  'sourceIPs',
  'user.username',
  'userAgent',
  'verb',
];

/** Short dimension names the backend accepts (pkg/query dimensionByName). */
export const DIMENSION_ALIASES: Readonly<Record<string, string>> = {
  user: 'user.username',
  username: 'user.username',
  groups: 'user.groups',
  resource: 'objectRef.resource',
  namespace: 'objectRef.namespace',
  name: 'objectRef.name',
  subresource: 'objectRef.subresource',
  apiGroup: 'objectRef.apiGroup',
  code: 'responseStatus.code',
  sourceIP: 'sourceIPs',
  userkind: 'userKind',
};

/** The canonical name of a dimension or alias, or undefined when the backend does not know it. */
export function canonicalDimension(name: string): string | undefined {
  if (DIMENSIONS.some((d) => d.name === name)) {
    return name;
  }
  return DIMENSION_ALIASES[name];
}

/** True when a value holds a template variable: the backend validates it after interpolation. */
export function hasVariable(value: string): boolean {
  return /\$\w|\$\{|\[\[/.test(value);
}

/** A static suggestion of a filter picker. */
export interface StaticOption {
  value: string;
  description?: string;
}

/** One filter field of the editor: its key in the filter, the dimension its values come from. */
export interface FilterField {
  key: AuditFilterListKey;
  dim: string;
  label: string;
  /** Lower-case noun for summaries ("user", "source IP"). */
  noun: string;
  tooltip: string;
  placeholder: string;
  /** Values always offered, whatever the backend returns (classes of codes, every stage...). */
  staticOptions?: readonly StaticOption[];
  /** Shown without opening "More filters". */
  primary?: boolean;
}

const describe = (values: readonly string[], description?: (v: string) => string): StaticOption[] =>
  values.map((value) => ({ value, description: description?.(value) }));

/** The filter fields in the order the editor shows them. */
export const FILTER_FIELDS: readonly FilterField[] = [
  {
    key: 'verbs',
    dim: 'verb',
    label: 'Verbs',
    noun: 'verb',
    tooltip: 'Request verbs.',
    placeholder: 'get, list, delete',
    primary: true,
  },
  {
    key: 'users',
    dim: 'user.username',
    label: 'Users',
    noun: 'user',
    tooltip: 'User names.',
    placeholder: 'alice, system:serviceaccount:*',
    primary: true,
  },
  {
    key: 'namespaces',
    dim: 'objectRef.namespace',
    label: 'Namespaces',
    noun: 'namespace',
    tooltip: 'Object namespaces.',
    placeholder: 'default, kube-*',
    primary: true,
  },
  {
    key: 'resources',
    dim: 'objectRef.resource',
    label: 'Resources',
    noun: 'resource',
    tooltip: 'Object resources (plural).',
    placeholder: 'pods, secrets',
    primary: true,
  },
  {
    key: 'codes',
    dim: 'responseStatus.code',
    label: 'Codes',
    noun: 'code',
    tooltip: 'Response codes (403) or classes (4xx).',
    placeholder: '403, 4xx, 5xx',
    primary: true,
    staticOptions: [
      ...describe(['2xx', '3xx', '4xx', '5xx'], (c) => `any ${c} code`),
      { value: '401', description: 'unauthenticated' },
      { value: '403', description: 'forbidden' },
      { value: '404', description: 'not found' },
      { value: '409', description: 'conflict' },
      { value: '429', description: 'too many requests' },
    ],
  },
  {
    key: 'userKinds',
    dim: 'userKind',
    label: 'User kinds',
    noun: 'user kind',
    tooltip: 'Derived kind of the user.',
    placeholder: 'human, serviceaccount',
    primary: true,
    staticOptions: describe(USER_KINDS),
  },
  {
    key: 'names',
    dim: 'objectRef.name',
    label: 'Names',
    noun: 'name',
    tooltip: 'Object names.',
    placeholder: 'web-1, web-*',
  },
  {
    key: 'groups',
    dim: 'user.groups',
    label: 'Groups',
    noun: 'group',
    tooltip: "The user's groups (any of them).",
    placeholder: 'system:masters',
  },
  {
    key: 'subresources',
    dim: 'objectRef.subresource',
    label: 'Subresources',
    noun: 'subresource',
    tooltip: 'Object subresources.',
    placeholder: 'exec, log, status',
  },
  {
    key: 'apiGroups',
    dim: 'objectRef.apiGroup',
    label: 'API groups',
    noun: 'API group',
    tooltip: 'API groups (empty for the core group).',
    placeholder: 'apps, rbac.authorization.k8s.io',
  },
  {
    key: 'decisions',
    dim: 'decision',
    label: 'Decisions',
    noun: 'decision',
    tooltip: 'Authorization decisions; none matches requests without one.',
    placeholder: 'allow, forbid, none',
    staticOptions: describe(DECISIONS, (d) => (d === 'none' ? 'no authorization decision' : '')),
  },
  {
    key: 'sourceIPs',
    dim: 'sourceIPs',
    label: 'Source IPs',
    noun: 'source IP',
    tooltip: 'The first source IP of the request.',
    placeholder: '10.0.0.*',
  },
  {
    key: 'userAgents',
    dim: 'userAgent',
    label: 'User agents',
    noun: 'user agent',
    tooltip: 'Client user agents.',
    placeholder: 'kubectl/*',
  },
  {
    key: 'stages',
    dim: 'stage',
    label: 'Stages',
    noun: 'stage',
    tooltip: 'Event stages. By default the event that completes each request, so each counts once.',
    placeholder: 'ResponseComplete',
    staticOptions: describe(STAGES),
  },
  {
    key: 'levels',
    dim: 'level',
    label: 'Levels',
    noun: 'level',
    tooltip: 'Audit levels.',
    placeholder: 'Metadata, RequestResponse',
    staticOptions: describe(LEVELS),
  },
];

/** Lower-case label of a dimension for summaries ("user", "source IP"); unknown names as given. */
export function dimensionNoun(name: string): string {
  const canonical = canonicalDimension(name);
  const d = DIMENSIONS.find((x) => x.name === canonical);
  if (!d) {
    return name;
  }
  return d.label
    .split(' ')
    .map((w) => (w === 'API' || w === 'IP' ? w : w.toLowerCase()))
    .join(' ');
}
