import { AuditFilter, AuditFilterListKey, AuditQuery, DEFAULT_QUANTILES, DetectionAllow } from '../../types';
import { dimensionNoun, FILTER_FIELDS } from './model';
import { FALLBACK_SCHEMA, QuerySchema, typeSchema } from './schema';
import { effectiveQueryType } from './validate';

/** Values shown before "and N more". */
const MAX_VALUES = 3;

function clean(values: unknown): string[] {
  if (values === undefined || values === null) {
    return [];
  }
  return (Array.isArray(values) ? values : [values]).map((v) => String(v).trim()).filter((v) => v !== '');
}

function split(values: unknown): { include: string[]; exclude: string[] } {
  const all = clean(values);
  return {
    include: all.filter((v) => !v.startsWith('!')),
    exclude: all.filter((v) => v.startsWith('!')).map((v) => v.slice(1)),
  };
}

/** "a", "a or b", "a, b or c", "a, b, c or 2 more". */
function either(values: string[], word = 'or'): string {
  if (values.length > MAX_VALUES + 1) {
    return `${values.slice(0, MAX_VALUES).join(', ')} ${word} ${values.length - MAX_VALUES} more`;
  }
  if (values.length <= 1) {
    return values.join('');
  }
  return `${values.slice(0, -1).join(', ')} ${word} ${values[values.length - 1]}`;
}

/** "a", "a and b", "a, b and c". */
function all(values: string[]): string {
  return either(values, 'and');
}

function percentile(q: number): string {
  return `p${Number((q * 100).toFixed(3))}`;
}

function pluralNoun(dim: string): string {
  return `${dimensionNoun(dim)}s`;
}

interface Parts {
  /** The head of the sentence ("Request count", "p99 latency"). */
  head: string;
  /** What the requests do ("list pods"): verbs and resources. */
  subject: string;
  by: string;
  clauses: string[];
  excluding: string[];
  tail: string[];
}

/**
 * The verbs and resources as "get or list pods", consuming them from the filter; exclusions go
 * to "excluding".
 */
function subjectOf(filter: AuditFilter, used: Set<AuditFilterListKey>, excluding: string[]): string {
  const verbs = split(filter.verbs);
  const resources = split(filter.resources);
  const subs = split(filter.subresources);
  used.add('verbs');
  used.add('resources');
  excluding.push(...verbs.exclude, ...resources.exclude);
  let what = either(resources.include);
  if (resources.include.length === 1 && subs.include.length === 1 && subs.exclude.length === 0) {
    what = `${what}/${subs.include[0]}`;
    used.add('subresources');
  }
  if (what === '' && verbs.include.length > 0) {
    what = 'requests';
  }
  return [either(verbs.include), what].filter((s) => s !== '').join(' ');
}

/** One clause per remaining filter field: "user is alice", "code is not 5xx", "user matches ci-*". */
function clausesOf(filter: AuditFilter, used: Set<AuditFilterListKey>): string[] {
  const out: string[] = [];
  for (const field of FILTER_FIELDS) {
    if (used.has(field.key)) {
      continue;
    }
    const { include, exclude } = split(filter[field.key]);
    if (include.length > 0) {
      const verb = include.some((v) => v.includes('*')) ? 'matches' : 'is';
      out.push(`${field.noun} ${verb} ${either(include)}`);
    }
    if (exclude.length > 0) {
      const verb = exclude.some((v) => v.includes('*')) ? 'does not match' : 'is not';
      out.push(`${field.noun} ${verb} ${either(exclude)}`);
    }
  }
  if (filter.search) {
    const how = filter.searchMode === 'regex' ? 'matches /' + filter.search + '/' : `contains "${filter.search}"`;
    out.push(`the line ${how}${filter.searchMode === 'caseInsensitive' ? ' (any case)' : ''}`);
  }
  return out;
}

/** What topn ranks by (sortBy), for summaries: "Top 10 users by p99 latency". */
const SORT_NOUNS: Record<string, string> = {
  requests: 'requests',
  errors: 'errors',
  denied: 'denials',
  p99: 'p99 latency',
};

/** Singular nouns of the allow-lists of detections, for summaries. */
const ALLOW_NOUNS: ReadonlyArray<[keyof DetectionAllow, string]> = [
  ['users', 'user'],
  ['groups', 'group'],
  ['namespaces', 'namespace'],
  ['images', 'image'],
  ['sourceNetworks', 'source network'],
];

/** "allow-listing users ci-* and bob; namespace debug-*", or '' without allow-lists. */
function allowListsOf(allow: DetectionAllow | undefined): string {
  const lists: string[] = [];
  for (const [key, noun] of ALLOW_NOUNS) {
    const values = clean(allow?.[key]);
    if (values.length > 0) {
      lists.push(`${noun}${values.length > 1 ? 's' : ''} ${all(values)}`);
    }
  }
  return lists.length > 0 ? `allow-listing ${lists.join('; ')}` : '';
}

function limitOf(query: AuditQuery): number | undefined {
  const n = Number(query.limit);
  return query.limit !== undefined && query.limit !== null && Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * A one-line, human-readable summary of a query, for example "p99 latency of list pods by user,
 * excluding watch" or "Requests per second by verb where code is 4xx". Defaults the query leaves
 * to the backend are the schema's (GET /schema).
 */
export function summarize(query: AuditQuery, schema: QuerySchema = FALLBACK_SCHEMA): string {
  const type = effectiveQueryType(query);
  if (!type) {
    return `Unknown query type "${query.queryType}"`;
  }
  const { defaults, limits } = typeSchema(schema, type);
  const filter = query.filter ?? {};
  const used = new Set<AuditFilterListKey>();
  const limit = limitOf(query);
  const groupBy = clean(query.groupBy);
  const parts: Parts = { head: '', subject: '', by: '', clauses: [], excluding: [], tail: [] };
  const byDims = (dims: string[]) => (dims.length > 0 ? `by ${all(dims.map(dimensionNoun))}` : '');
  const atMost = (unit: string) => {
    if (limit !== undefined) {
      parts.tail.push(`at most ${limit} ${unit}`);
    }
  };
  const longRunning = () => {
    if (query.includeLongRunning) {
      parts.tail.push('including long-running requests');
    }
  };

  switch (type) {
    case 'timeseries':
      parts.head = query.metric === 'rate' ? 'Requests per second' : 'Request count';
      parts.subject = subjectOf(filter, used, parts.excluding);
      parts.by = byDims(groupBy);
      if (limit !== undefined) {
        parts.tail.push(`top ${limit} series`);
      }
      break;
    case 'latency': {
      if (query.format === 'heatmap') {
        parts.head = 'Latency heatmap';
      } else {
        const qs = query.quantiles?.length ? query.quantiles : (defaults.quantiles ?? DEFAULT_QUANTILES);
        parts.head = `${all(qs.map((q) => percentile(Number(q))))} latency`;
        parts.by = byDims(groupBy);
        if (limit !== undefined) {
          parts.tail.push(`top ${limit} series`);
        }
      }
      parts.subject = subjectOf(filter, used, parts.excluding);
      longRunning();
      break;
    }
    case 'denied':
      {
        const subject = subjectOf(filter, used, parts.excluding);
        const what = subject === '' ? 'requests' : subject.endsWith(' requests') ? subject : `${subject} requests`;
        parts.head = `Denied ${what} (401/403)`;
      }
      parts.tail.push('newest first');
      atMost('rows');
      break;
    case 'topn': {
      const dims = groupBy.length > 0 ? groupBy : [...(defaults.groupBy ?? ['user.username'])];
      const n = limit ?? limits.default;
      parts.head =
        dims.length === 1
          ? `Top ${n} ${pluralNoun(dims[0])}`
          : `Top ${n} ${dims.map(dimensionNoun).join(' × ')} combinations`;
      parts.head += ` by ${SORT_NOUNS[query.sortBy ?? ''] ?? query.sortBy ?? 'requests'}`;
      parts.subject = subjectOf(filter, used, parts.excluding);
      longRunning();
      break;
    }
    case 'matrix': {
      const rows = query.rows || defaults.rows || 'user.username';
      const columns = query.columns || defaults.columns || 'objectRef.resource';
      parts.head = 'Requests';
      parts.subject = subjectOf(filter, used, parts.excluding);
      parts.by = `by ${dimensionNoun(rows)} × ${dimensionNoun(columns)}`;
      if (limit !== undefined) {
        parts.tail.push(`top ${limit} of each`);
      }
      break;
    }
    case 'events':
      parts.head = 'Events';
      parts.subject = subjectOf(filter, used, parts.excluding);
      parts.tail.push('newest first', query.format === 'table' ? 'as a table' : 'as logs');
      atMost('events');
      break;
    case 'detections': {
      const rules = clean(query.rules);
      const severities = clean(query.severities);
      parts.head = query.format === 'timeseries' ? 'Findings per interval' : 'Findings';
      const plural = rules.length > 1 || rules.some((r) => r.includes('*'));
      parts.head += rules.length > 0 ? ` of rule${plural ? 's' : ''} ${all(rules)}` : ' of all rules';
      if (severities.length > 0) {
        parts.head += ` (${severities.join(', ')})`;
      }
      if (query.format !== 'timeseries') {
        atMost('findings');
      } else if (groupBy.length > 0) {
        parts.by = byDims(groupBy);
      }
      // Last: the lists are separated by semicolons, the tail by commas.
      const allowed = allowListsOf(query.allow);
      if (allowed) {
        parts.tail.push(allowed);
      }
      break;
    }
    case 'latencyBreakdown':
      if (query.format === 'table') {
        parts.head = `Slowest ${limit ?? limits.default} requests with their latency breakdown`;
        parts.subject = subjectOf(filter, used, parts.excluding);
      } else {
        // Verbs and resources stay clauses: "of slow requests where verb is create".
        parts.head = 'Latency breakdown of slow requests';
      }
      longRunning();
      break;
    case 'deprecatedApis':
      parts.head = 'Deprecated API calls';
      parts.subject = subjectOf(filter, used, parts.excluding);
      if (groupBy.length > 0) {
        parts.by = byDims(groupBy);
      } else if (defaults.groupBy?.length) {
        // The backend's default, named in full: it says what the table holds.
        const nouns = defaults.groupBy.map(dimensionNoun);
        parts.by = `by ${nouns.length > 1 ? `${nouns.slice(0, -1).join(', ')} and ${nouns[nouns.length - 1]}` : nouns[0]}`;
      }
      atMost('rows');
      break;
    case 'objectHistory': {
      const names = split(filter.names);
      const resources = split(filter.resources);
      const namespaces = split(filter.namespaces);
      used.add('names');
      used.add('resources');
      used.add('namespaces');
      if (names.include.length === 0 && (resources.include.length === 0 || namespaces.include.length === 0)) {
        parts.head = 'History of an object (filter its name, or a resource and a namespace)';
        break;
      }
      const kind = either(resources.include);
      const what = names.include.length > 0 ? [kind, either(names.include)] : [`all ${kind}`];
      parts.head = ['History of', ...what].filter((s) => s !== '').join(' ');
      if (namespaces.include.length > 0) {
        parts.head += ` in ${either(namespaces.include)}`;
      }
      parts.excluding.push(...names.exclude, ...resources.exclude, ...namespaces.exclude);
      parts.tail.push('oldest first');
      atMost('actions');
      break;
    }
    case 'pipelineHealth':
      parts.head =
        query.format === 'timeseries' ? 'Audit events per second per origin' : 'Audit pipeline health per origin';
      if (limit !== undefined) {
        parts.tail.push(`top ${limit} origins`);
      }
      break;
  }

  parts.clauses = clausesOf(filter, used);
  let out = parts.head;
  if (parts.subject) {
    out += ` of ${parts.subject}`;
  }
  if (parts.by) {
    out += ` ${parts.by}`;
  }
  if (parts.clauses.length > 0) {
    out += ` where ${parts.clauses.join(' and ')}`;
  }
  const tail = [...(parts.excluding.length > 0 ? [`excluding ${all(parts.excluding)}`] : []), ...parts.tail];
  if (tail.length > 0) {
    out += `, ${tail.join(', ')}`;
  }
  return out;
}
