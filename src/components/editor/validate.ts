import { AuditQuery, QUERY_TYPES, QueryType, SCHEMA_VERSION } from '../../types';
import {
  canonicalDimension,
  DECISIONS,
  FINDING_DIMENSIONS,
  hasVariable,
  LEVELS,
  METRICS,
  SOURCE_MODES,
  STAGES,
  USER_KINDS,
} from './model';
import { FALLBACK_SCHEMA, QuerySchema, typeSchema } from './schema';

/** The query type the backend uses: any letter case, timeseries when absent. */
export function effectiveQueryType(query: Pick<AuditQuery, 'queryType'>): QueryType | undefined {
  const raw = String(query.queryType ?? '').trim();
  if (raw === '') {
    return 'timeseries';
  }
  return QUERY_TYPES.find((t) => t.value.toLowerCase() === raw.toLowerCase())?.value;
}

/** A response code (403) or class (4xx), optionally excluded (!403), as pkg/query parseCode accepts. */
export function isValidCode(value: string): boolean {
  const p = value.replace(/^!/, '').toLowerCase();
  if (/^[1-5]xx$/.test(p)) {
    return true;
  }
  return /^\d+$/.test(p) && Number(p) <= 999;
}

/** One number-and-unit element of a Go duration (time.ParseDuration). */
const GO_DURATION_UNIT = '(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:ns|us|µs|μs|ms|s|m|h)';

/** A positive Go duration such as 5m, 1h30m or 90s. */
export function isPositiveDuration(value: string): boolean {
  return new RegExp(`^\\+?(?:${GO_DURATION_UNIT})+$`).test(value) && /[1-9]/.test(value);
}

/** A duration Go's time.ParseDuration accepts that is not negative: 0, 90m, 1h30m, 0s. */
function isNonNegativeDuration(value: string): boolean {
  const m = new RegExp(`^([+-]?)(0|(?:${GO_DURATION_UNIT})+)$`).exec(value);
  return m !== null && (m[1] !== '-' || !/[1-9]/.test(m[2]));
}

/**
 * An RBAC look-back as the backend reads it (pkg/models parseLookback): "0" (off), a whole number
 * of days ("7d") or a non-negative Go duration ("24h", "90m"). Surrounding spaces are ignored.
 */
export function isLookback(value: string): boolean {
  const s = value.trim();
  if (s.endsWith('d')) {
    // strconv.Atoi of what precedes the d, not negative.
    const m = /^([+-]?)(\d+)d$/.exec(s);
    return m !== null && (m[1] !== '-' || Number(m[2]) === 0);
  }
  return isNonNegativeDuration(s);
}

/** An IPv4 address as Go's netip parses it: four decimal octets, no leading zeros. */
function isIPv4(s: string): boolean {
  const octets = s.split('.');
  return octets.length === 4 && octets.every((o) => /^(?:0|[1-9]\d{0,2})$/.test(o) && Number(o) <= 255);
}

/** An IPv6 address as Go's netip parses it: hex groups, one `::`, a trailing IPv4, a zone. */
function isIPv6(s: string): boolean {
  const zone = s.indexOf('%');
  if (zone >= 0) {
    if (zone === s.length - 1) {
      return false;
    }
    s = s.slice(0, zone);
  }
  // The number of 16-bit groups of one side of `::`, or undefined when it does not parse.
  const groups = (part: string, last: boolean): number | undefined => {
    if (part === '') {
      return 0;
    }
    const fields = part.split(':');
    let n = 0;
    for (let i = 0; i < fields.length; i++) {
      if (last && i === fields.length - 1 && fields[i].includes('.')) {
        if (!isIPv4(fields[i])) {
          return undefined;
        }
        n += 2;
      } else if (/^[0-9a-fA-F]{1,4}$/.test(fields[i])) {
        n += 1;
      } else {
        return undefined;
      }
    }
    return n;
  };
  const halves = s.split('::');
  if (halves.length > 2) {
    return false;
  }
  if (halves.length === 2) {
    const head = groups(halves[0], false);
    const tail = groups(halves[1], true);
    // `::` stands for at least one group of zeros.
    return head !== undefined && tail !== undefined && head + tail < 8;
  }
  return groups(s, true) === 8;
}

/** An IP address as Go's netip.ParseAddr accepts it (IPv4, or IPv6 with an optional zone). */
export function isIPAddress(value: string): boolean {
  return value.includes(':') ? isIPv6(value) : isIPv4(value);
}

/**
 * A source network of an allow-list, as the backend accepts it (pkg/models AllowList.validate):
 * a CIDR (netip.ParsePrefix: 10.0.0.0/8, 2001:db8::/32) or an IP address.
 */
export function isSourceNetwork(value: string): boolean {
  const s = value.trim();
  return isPrefix(s) || isIPAddress(s);
}

/** A CIDR as netip.ParsePrefix accepts it: an address without zone, / and decimal bits. */
function isPrefix(s: string): boolean {
  const slash = s.lastIndexOf('/');
  if (slash < 0) {
    return false;
  }
  const addr = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  if (addr.includes('%') || !/^(?:0|[1-9]\d*)$/.test(bits)) {
    return false;
  }
  return isIPAddress(addr) && Number(bits) <= (addr.includes(':') ? 128 : 32);
}

const quote = (s: unknown) => JSON.stringify(String(s));

/**
 * What is wrong with one quantile, as pkg/query parseQuantiles says it: quantiles are fractions
 * in (0, 1] (0.99), or percentiles with their unit ("p99"). A bare number above 1 is not read as a
 * percentage: the message says how to write it.
 */
function quantileProblem(q: unknown): string | undefined {
  const s = String(q).trim();
  if (s === '') {
    return undefined;
  }
  if (s.startsWith('p')) {
    const n = Number(s.slice(1));
    return s.length > 1 && n > 0 && n <= 100
      ? undefined
      : `Percentile ${quote(s)} must be in (p0, p100]: write p99, or a fraction such as 0.99.`;
  }
  const n = Number(s);
  if (n > 0 && n <= 1) {
    return undefined;
  }
  if (n > 1 && n <= 100) {
    const frac = Number((n / 100).toPrecision(12));
    return `Quantile ${s} must be in (0, 1]: write ${frac} for p${s}${frac === 0.99 ? '' : ', 0.99 for p99'}.`;
  }
  return `Quantile ${s} must be in (0, 1]: write a fraction, such as 0.99 for p99.`;
}

function list(values: unknown): string[] {
  if (values === undefined || values === null) {
    return [];
  }
  return (Array.isArray(values) ? values : [values]).map((v) => String(v).trim()).filter((v) => v !== '');
}

/**
 * The problems the backend would reject the query for (pkg/query Parse), as messages for the
 * user; empty when the query can run. Values with template variables are left to the backend,
 * which checks them after interpolation. Formats, limits and severities are the schema's (GET
 * /schema).
 */
export function validate(query: AuditQuery, schema: QuerySchema = FALLBACK_SCHEMA): string[] {
  const errors: string[] = [];
  const type = effectiveQueryType(query);
  if (!type) {
    errors.push(`Unknown query type ${quote(query.queryType)}.`);
  }
  if (typeof query.schemaVersion === 'number' && query.schemaVersion > SCHEMA_VERSION) {
    errors.push(`The query's schema version ${query.schemaVersion} is newer than this plugin supports.`);
  }

  // Filter vocabularies.
  const filter = query.filter ?? {};
  const checkWords = (values: unknown, noun: string, valid: readonly string[]) => {
    for (const v of list(values)) {
      const p = v.replace(/^!/, '');
      if (p.includes('*') || hasVariable(p) || valid.includes(p)) {
        continue;
      }
      errors.push(`Unknown ${noun} ${quote(p)}: use ${valid.join(', ')}.`);
    }
  };
  checkWords(filter.stages, 'stage', STAGES);
  checkWords(filter.decisions, 'decision', DECISIONS);
  checkWords(filter.userKinds, 'user kind', USER_KINDS);
  checkWords(filter.levels, 'level', LEVELS);
  for (const c of list(filter.codes)) {
    if (!hasVariable(c) && !isValidCode(c)) {
      errors.push(`Invalid code ${quote(c)}: use a code such as 403 or a class such as 4xx.`);
    }
  }

  for (const g of list(query.groupBy)) {
    if (!hasVariable(g) && !canonicalDimension(g)) {
      errors.push(`Unknown dimension ${quote(g)} in group by.`);
    } else if (
      type === 'detections' &&
      query.format === 'timeseries' &&
      !hasVariable(g) &&
      !FINDING_DIMENSIONS.includes(canonicalDimension(g)!)
    ) {
      errors.push(`Detections cannot be grouped by ${quote(g)}: use ${FINDING_DIMENSIONS.join(', ')}.`);
    }
  }

  if (query.quantiles !== undefined && query.quantiles !== null) {
    for (const q of Array.isArray(query.quantiles) ? query.quantiles : [query.quantiles]) {
      const problem = quantileProblem(q);
      if (problem) {
        errors.push(problem);
      }
    }
  }

  if (query.limit !== undefined && query.limit !== null && String(query.limit) !== '') {
    const n = Number(query.limit);
    if (!Number.isInteger(n)) {
      errors.push(`Limit must be a whole number, got ${quote(query.limit)}.`);
    } else if (n < 0) {
      errors.push(`Limit must not be negative, got ${n}.`);
    } else if (type && n > typeSchema(schema, type).limits.max) {
      errors.push(`Limit ${n} is above the maximum of ${typeSchema(schema, type).limits.max} for this query type.`);
    }
  }

  if (query.sourceMode && !(SOURCE_MODES as readonly string[]).includes(query.sourceMode)) {
    errors.push(`Unknown source mode ${quote(query.sourceMode)}: use ${SOURCE_MODES.join(', ')}.`);
  }

  if (!type) {
    return errors;
  }

  const formats = typeSchema(schema, type).formats;
  if (formats.length > 0 && query.format && !formats.includes(query.format)) {
    errors.push(`Format ${quote(query.format)} does not fit this query type: use ${formats.join(' or ')}.`);
  }

  switch (type) {
    case 'timeseries':
      if (query.metric && !(METRICS as readonly string[]).includes(query.metric)) {
        errors.push(`Unknown metric ${quote(query.metric)}: use count or rate.`);
      }
      break;
    case 'topn': {
      const orders = typeSchema(schema, type).sortBy ?? [];
      if (query.sortBy && orders.length > 0 && !orders.includes(query.sortBy)) {
        errors.push(`Unknown sort order ${quote(query.sortBy)}: use ${orders.join(', ')}.`);
      }
      break;
    }
    case 'matrix': {
      const { defaults } = typeSchema(schema, type);
      const rows = query.rows || defaults.rows || 'user.username';
      const columns = query.columns || defaults.columns || 'objectRef.resource';
      const r = hasVariable(rows) ? rows : canonicalDimension(rows);
      const c = hasVariable(columns) ? columns : canonicalDimension(columns);
      if (!r) {
        errors.push(`Unknown dimension ${quote(rows)} for the rows.`);
      }
      if (!c) {
        errors.push(`Unknown dimension ${quote(columns)} for the columns.`);
      }
      if (r && c && r === c) {
        errors.push('Rows and columns must be different dimensions.');
      }
      break;
    }
    case 'objectHistory': {
      const names = list(filter.names);
      if (names.length === 0 && (list(filter.resources).length === 0 || list(filter.namespaces).length === 0)) {
        errors.push(
          'Object history needs the object: filter its name (with the resource and namespace to be exact), or a resource and a namespace for all its objects.'
        );
      }
      break;
    }
    case 'detections':
      for (const s of list(query.severities)) {
        if (!hasVariable(s) && !(schema.severities as readonly string[]).includes(s)) {
          errors.push(`Unknown severity ${quote(s)}: use ${schema.severities.join(', ')}.`);
        }
      }
      if (typeof query.burstThreshold === 'number' && query.burstThreshold < 0) {
        errors.push('The burst threshold must not be negative.');
      }
      if (query.burstWindow && !isPositiveDuration(query.burstWindow)) {
        errors.push(`Burst window ${quote(query.burstWindow)} is not a positive duration such as 5m.`);
      }
      // The backend ignores source networks it cannot parse, so a typo would silently allow nothing.
      for (const n of list(query.allow?.sourceNetworks)) {
        if (!hasVariable(n) && !isSourceNetwork(n)) {
          errors.push(`Allowed source network ${quote(n)} is neither a CIDR (10.0.0.0/8) nor an IP address.`);
        }
      }
      break;
  }
  return errors;
}
