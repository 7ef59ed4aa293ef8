import { AuditQuery, QUERY_TYPES, QueryType, SCHEMA_VERSION } from '../../types';
import {
  canonicalDimension,
  DECISIONS,
  FORMATS,
  hasVariable,
  LEVELS,
  LIMITS,
  METRICS,
  SEVERITIES,
  SOURCE_MODES,
  STAGES,
  USER_KINDS,
} from './model';

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

/** A positive Go duration such as 5m, 1h30m or 90s. */
export function isPositiveDuration(value: string): boolean {
  const unit = '(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:ns|us|µs|μs|ms|s|m|h)';
  return new RegExp(`^\\+?(?:${unit})+$`).test(value) && /[1-9]/.test(value);
}

const quote = (s: unknown) => JSON.stringify(String(s));

function list(values: unknown): string[] {
  if (values === undefined || values === null) {
    return [];
  }
  return (Array.isArray(values) ? values : [values]).map((v) => String(v).trim()).filter((v) => v !== '');
}

/**
 * The problems the backend would reject the query for (pkg/query Parse), as messages for the
 * user; empty when the query can run. Values with template variables are left to the backend,
 * which checks them after interpolation.
 */
export function validate(query: AuditQuery): string[] {
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
    }
  }

  if (query.quantiles !== undefined && query.quantiles !== null) {
    for (const q of Array.isArray(query.quantiles) ? query.quantiles : [query.quantiles]) {
      const n = Number(q);
      if (!(n > 0 && n <= 1)) {
        errors.push(`Quantile ${q} must be in (0, 1], such as 0.99.`);
      }
    }
  }

  if (query.limit !== undefined && query.limit !== null && String(query.limit) !== '') {
    const n = Number(query.limit);
    if (!Number.isInteger(n)) {
      errors.push(`Limit must be a whole number, got ${quote(query.limit)}.`);
    } else if (n < 0) {
      errors.push(`Limit must not be negative, got ${n}.`);
    } else if (type && n > LIMITS[type].max) {
      errors.push(`Limit ${n} is above the maximum of ${LIMITS[type].max} for this query type.`);
    }
  }

  if (query.sourceMode && !(SOURCE_MODES as readonly string[]).includes(query.sourceMode)) {
    errors.push(`Unknown source mode ${quote(query.sourceMode)}: use ${SOURCE_MODES.join(', ')}.`);
  }

  if (!type) {
    return errors;
  }

  const formats = FORMATS[type];
  if (formats && query.format && !formats.includes(query.format)) {
    errors.push(`Format ${quote(query.format)} does not fit this query type: use ${formats.join(' or ')}.`);
  }

  switch (type) {
    case 'timeseries':
      if (query.metric && !(METRICS as readonly string[]).includes(query.metric)) {
        errors.push(`Unknown metric ${quote(query.metric)}: use count or rate.`);
      }
      break;
    case 'matrix': {
      const rows = query.rows || 'user.username';
      const columns = query.columns || 'objectRef.resource';
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
        if (!hasVariable(s) && !(SEVERITIES as readonly string[]).includes(s)) {
          errors.push(`Unknown severity ${quote(s)}: use ${SEVERITIES.join(', ')}.`);
        }
      }
      if (typeof query.burstThreshold === 'number' && query.burstThreshold < 0) {
        errors.push('The burst threshold must not be negative.');
      }
      if (query.burstWindow && !isPositiveDuration(query.burstWindow)) {
        errors.push(`Burst window ${quote(query.burstWindow)} is not a positive duration such as 5m.`);
      }
      break;
  }
  return errors;
}
