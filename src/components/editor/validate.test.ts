import { AuditQuery } from '../../types';
import { FALLBACK_SCHEMA, QuerySchema } from './schema';
import { effectiveQueryType, isLookback, isPositiveDuration, isSourceNetwork, isValidCode, validate } from './validate';

const v = (q: Partial<AuditQuery>) => validate({ refId: 'A', ...q } as AuditQuery);

describe('validate', () => {
  it('accepts the default and typical queries of every type', () => {
    expect(v({})).toEqual([]);
    expect(v({ queryType: 'timeseries', metric: 'rate', groupBy: ['verb', 'user'], limit: 500 })).toEqual([]);
    expect(v({ queryType: 'latency', quantiles: [0.5, 1], format: 'heatmap' })).toEqual([]);
    expect(v({ queryType: 'denied', limit: 10000 })).toEqual([]);
    expect(v({ queryType: 'events', format: 'table', limit: 0 })).toEqual([]);
    expect(v({ queryType: 'matrix', rows: 'verb', columns: 'user' })).toEqual([]);
    expect(v({ queryType: 'topn', groupBy: ['sourceIPs'] })).toEqual([]);
    expect(v({ queryType: 'latencyBreakdown', format: 'table' })).toEqual([]);
    expect(v({ queryType: 'deprecatedApis' })).toEqual([]);
    expect(v({ queryType: 'objectHistory', filter: { names: ['web-1'] } })).toEqual([]);
    expect(v({ queryType: 'pipelineHealth', format: 'timeseries' })).toEqual([]);
    expect(
      v({ queryType: 'detections', severities: ['high', 'critical'], burstThreshold: 0, burstWindow: '1h30m' })
    ).toEqual([]);
  });

  it('rejects unknown query types but accepts any letter case', () => {
    expect(v({ queryType: 'bogus' as AuditQuery['queryType'] })).toEqual(['Unknown query type "bogus".']);
    expect(effectiveQueryType({ queryType: 'TopN' as AuditQuery['queryType'] })).toBe('topn');
    expect(effectiveQueryType({})).toBe('timeseries');
  });

  it('rejects a newer schema version', () => {
    expect(v({ schemaVersion: 2 })).toEqual([expect.stringMatching(/schema version 2 is newer/)]);
    expect(v({ schemaVersion: 1 })).toEqual([]);
  });

  describe('quantiles', () => {
    it('must be in (0, 1]', () => {
      expect(v({ queryType: 'latency', quantiles: [0.5, 0, 1.5, -1] })).toEqual([
        'Quantile 0 must be in (0, 1]: write a fraction, such as 0.99 for p99.',
        'Quantile 1.5 must be in (0, 1]: write 0.015 for p1.5, 0.99 for p99.',
        'Quantile -1 must be in (0, 1]: write a fraction, such as 0.99 for p99.',
      ]);
      expect(v({ queryType: 'latency', quantiles: [NaN] })).toHaveLength(1);
    });

    it('says how to write a percentage, as the backend does', () => {
      expect(v({ queryType: 'latency', quantiles: [99] })).toEqual([
        'Quantile 99 must be in (0, 1]: write 0.99 for p99.',
      ]);
      expect(v({ queryType: 'latency', quantiles: [99.9] })).toEqual([
        'Quantile 99.9 must be in (0, 1]: write 0.999 for p99.9, 0.99 for p99.',
      ]);
      expect(v({ queryType: 'latency', quantiles: [1000] })).toEqual([
        'Quantile 1000 must be in (0, 1]: write a fraction, such as 0.99 for p99.',
      ]);
    });

    it('accepts percentiles with their unit ("p99"), as the backend does', () => {
      const q = (quantiles: unknown[]) => v({ queryType: 'latency', quantiles: quantiles as number[] });
      expect(q(['p50', 'p99.9', 'p100', '0.99', 0.5, 1])).toEqual([]);
      expect(q(['p0', 'p101', 'p', 'px'])).toEqual([
        'Percentile "p0" must be in (p0, p100]: write p99, or a fraction such as 0.99.',
        'Percentile "p101" must be in (p0, p100]: write p99, or a fraction such as 0.99.',
        'Percentile "p" must be in (p0, p100]: write p99, or a fraction such as 0.99.',
        'Percentile "px" must be in (p0, p100]: write p99, or a fraction such as 0.99.',
      ]);
    });
  });

  describe('limit', () => {
    it('must be a whole number, not negative', () => {
      expect(v({ limit: -1 })).toEqual(['Limit must not be negative, got -1.']);
      expect(v({ limit: 1.5 })).toEqual(['Limit must be a whole number, got "1.5".']);
      expect(v({ limit: 'abc' as unknown as number })).toEqual(['Limit must be a whole number, got "abc".']);
      expect(v({ limit: '20' as unknown as number })).toEqual([]);
    });
    it('must not exceed the maximum of the query type', () => {
      expect(v({ queryType: 'events', limit: 5001 })).toEqual([
        'Limit 5001 is above the maximum of 5000 for this query type.',
      ]);
      expect(v({ queryType: 'matrix', limit: 101 })).toHaveLength(1);
      expect(v({ queryType: 'timeseries', limit: 501 })).toHaveLength(1);
      expect(v({ queryType: 'denied', limit: 10001 })).toHaveLength(1);
      expect(v({ queryType: 'topn', limit: 1000 })).toEqual([]);
    });
    it('takes the maximum and the formats from the schema (GET /schema)', () => {
      const schema: QuerySchema = {
        ...FALLBACK_SCHEMA,
        queryTypes: FALLBACK_SCHEMA.queryTypes.map((t) =>
          t.name === 'events' ? { ...t, formats: ['table'], limits: { ...t.limits, max: 2000 } } : t
        ),
      };
      const q = (p: Partial<AuditQuery>) => validate({ refId: 'A', queryType: 'events', ...p } as AuditQuery, schema);
      expect(q({ limit: 2001 })).toEqual(['Limit 2001 is above the maximum of 2000 for this query type.']);
      expect(q({ limit: 2000 })).toEqual([]);
      expect(q({ format: 'logs' })).toEqual(['Format "logs" does not fit this query type: use table.']);
      // Other types keep theirs.
      expect(validate({ refId: 'A', queryType: 'denied', limit: 10000 }, schema)).toEqual([]);
    });
  });

  describe('matrix', () => {
    it('needs different rows and columns, aliases and defaults included', () => {
      const msg = 'Rows and columns must be different dimensions.';
      expect(v({ queryType: 'matrix', rows: 'verb', columns: 'verb' })).toEqual([msg]);
      expect(v({ queryType: 'matrix', rows: 'user', columns: 'user.username' })).toEqual([msg]);
      // rows default to user.username
      expect(v({ queryType: 'matrix', columns: 'user.username' })).toEqual([msg]);
      expect(v({ queryType: 'matrix', rows: 'objectRef.resource' })).toEqual([msg]);
    });
    it('needs known dimensions, except template variables', () => {
      expect(v({ queryType: 'matrix', rows: 'nope' })).toEqual(['Unknown dimension "nope" for the rows.']);
      expect(v({ queryType: 'matrix', rows: '$rows', columns: '${cols}' })).toEqual([]);
    });
    it('only applies to matrix queries', () => {
      expect(v({ queryType: 'timeseries', rows: 'verb', columns: 'verb' })).toEqual([]);
    });
  });

  describe('objectHistory', () => {
    const msg = expect.stringMatching(/^Object history needs the object/);
    it('needs names, or a resource and a namespace', () => {
      expect(v({ queryType: 'objectHistory' })).toEqual([msg]);
      expect(v({ queryType: 'objectHistory', filter: { resources: ['pods'] } })).toEqual([msg]);
      expect(v({ queryType: 'objectHistory', filter: { namespaces: ['default'] } })).toEqual([msg]);
      expect(v({ queryType: 'objectHistory', filter: { names: [''] } })).toEqual([msg]);
      expect(v({ queryType: 'objectHistory', filter: { resources: ['pods'], namespaces: ['default'] } })).toEqual([]);
      expect(v({ queryType: 'objectHistory', filter: { names: ['$name'] } })).toEqual([]);
    });
  });

  describe('filter vocabularies', () => {
    it('accepts codes and classes like the backend', () => {
      expect(v({ filter: { codes: ['403', '4xx', '4XX', '!5xx', '200', '999'] } })).toEqual([]);
      expect(v({ filter: { codes: ['6xx', '40x', 'abc', '1000', '4*'] } })).toEqual([
        'Invalid code "6xx": use a code such as 403 or a class such as 4xx.',
        'Invalid code "40x": use a code such as 403 or a class such as 4xx.',
        'Invalid code "abc": use a code such as 403 or a class such as 4xx.',
        'Invalid code "1000": use a code such as 403 or a class such as 4xx.',
        'Invalid code "4*": use a code such as 403 or a class such as 4xx.',
      ]);
      expect(v({ filter: { codes: ['$code'] } })).toEqual([]);
      expect(isValidCode('0')).toBe(true);
    });
    it('knows stages, decisions, user kinds and levels; globs, exclusions and variables pass', () => {
      expect(
        v({
          filter: {
            stages: ['ResponseComplete', '!Panic', 'Response*'],
            decisions: ['allow', 'forbid', 'none'],
            userKinds: ['human', 'serviceaccount', 'node', 'system', '!anonymous'],
            levels: ['Metadata', '$level'],
          },
        })
      ).toEqual([]);
      expect(
        v({ filter: { stages: ['responsecomplete'], decisions: ['deny'], userKinds: ['robot'], levels: ['Full'] } })
      ).toEqual([
        'Unknown stage "responsecomplete": use RequestReceived, ResponseStarted, ResponseComplete, Panic.',
        'Unknown decision "deny": use allow, forbid, none.',
        'Unknown user kind "robot": use human, serviceaccount, node, system, anonymous.',
        'Unknown level "Full": use None, Metadata, Request, RequestResponse.',
      ]);
    });
    it('does not judge free-form fields', () => {
      expect(v({ filter: { users: ['anything', '!x*'], verbs: ['frobnicate'], search: '"' } })).toEqual([]);
    });
  });

  describe('detections', () => {
    it('knows severities', () => {
      expect(v({ queryType: 'detections', severities: ['urgent' as 'high'] })).toEqual([
        'Unknown severity "urgent": use low, medium, high, critical.',
      ]);
    });
    it('checks the burst threshold and window', () => {
      expect(v({ queryType: 'detections', burstThreshold: -1, burstWindow: '5 minutes' })).toEqual([
        'The burst threshold must not be negative.',
        'Burst window "5 minutes" is not a positive duration such as 5m.',
      ]);
      expect(isPositiveDuration('5m')).toBe(true);
      expect(isPositiveDuration('1.5h')).toBe(true);
      expect(isPositiveDuration('0s')).toBe(false);
      expect(isPositiveDuration('-5m')).toBe(false);
      expect(isPositiveDuration('5')).toBe(false);
    });
    it('checks the allowed source networks: CIDRs or IPs, template variables left to the backend', () => {
      expect(
        v({ queryType: 'detections', allow: { sourceNetworks: ['10.0.0.0/8', '192.0.2.1', '2001:db8::/32', '$net'] } })
      ).toEqual([]);
      expect(
        v({ queryType: 'detections', allow: { sourceNetworks: ['10.0.0.0/33', 'office', ' 10.1.0.0/16 '] } })
      ).toEqual([
        'Allowed source network "10.0.0.0/33" is neither a CIDR (10.0.0.0/8) nor an IP address.',
        'Allowed source network "office" is neither a CIDR (10.0.0.0/8) nor an IP address.',
      ]);
      // Other lists take globs and are not judged; other query types ignore the allow-lists.
      expect(v({ queryType: 'detections', allow: { users: ['*'], images: ['not an image'] } })).toEqual([]);
      expect(v({ queryType: 'events', allow: { sourceNetworks: ['office'] } })).toEqual([]);
    });
  });

  describe('source networks and look-backs, as Go parses them', () => {
    it('accepts CIDRs and IP addresses as netip.ParsePrefix and ParseAddr do', () => {
      for (const ok of [
        '10.0.0.0/8',
        '10.0.0.1/8',
        '0.0.0.0/0',
        '192.0.2.1',
        ' 192.0.2.1 ',
        '::',
        '::1/128',
        '2001:DB8::/32',
        '::ffff:1.2.3.4/120',
        '1:2:3:4:5:6:7:8',
        '1:2:3:4:5:6:7::',
        'fe80::1%eth0',
      ]) {
        expect([ok, isSourceNetwork(ok)]).toEqual([ok, true]);
      }
      for (const bad of [
        '',
        'office',
        '10.0.0',
        '10.0.0.256',
        '010.0.0.1',
        '10.0.0.0/33',
        '10.0.0.0/08',
        '10.0.0.0/',
        '::1/129',
        '1::2::3',
        '1:2:3:4:5:6:7:8::',
        '12345::',
        '1.2.3.4:80',
        'fe80::1%',
        '10.0.0.0-10.0.0.255',
      ]) {
        expect([bad, isSourceNetwork(bad)]).toEqual([bad, false]);
      }
    });
    it('accepts look-backs as pkg/models parseLookback does', () => {
      for (const ok of ['0', '24h', '7d', '+7d', '90m', '0s', '1h30m', ' 24h ', '.5h']) {
        expect([ok, isLookback(ok)]).toEqual([ok, true]);
      }
      for (const bad of ['', '-5m', '-1d', '1d12h', '1.5d', 'd', '1w', '5', '5 m', '24 hours']) {
        expect([bad, isLookback(bad)]).toEqual([bad, false]);
      }
    });
  });

  it('checks group-by dimensions, formats, metrics and source modes', () => {
    expect(v({ groupBy: ['verb', 'nope', '$dim'] })).toEqual(['Unknown dimension "nope" in group by.']);
    // Detections count by the finding's own fields (labels beside rule and severity).
    expect(v({ queryType: 'detections', format: 'timeseries', groupBy: ['user', 'objectRef.namespace'] })).toEqual([]);
    expect(v({ queryType: 'detections', format: 'timeseries', groupBy: ['decision'] })).toEqual([
      'Detections cannot be grouped by "decision": use objectRef.name, objectRef.namespace, objectRef.resource, sourceIPs, user.username, userAgent, verb.',
    ]);
    expect(v({ queryType: 'events', format: 'heatmap' })).toEqual([
      'Format "heatmap" does not fit this query type: use logs or table.',
    ]);
    expect(v({ queryType: 'latency', format: 'logs' })).toHaveLength(1);
    // Formats of other types are kept when switching and ignored by types without formats.
    expect(v({ queryType: 'denied', format: 'heatmap' })).toEqual([]);
    expect(v({ metric: 'avg' as 'count' })).toEqual(['Unknown metric "avg": use count or rate.']);
    expect(v({ sourceMode: 'fast' as 'auto' })).toEqual(['Unknown source mode "fast": use auto, raw, pushdown.']);
    expect(v({ queryType: 'topn', sortBy: 'p99' })).toEqual([]);
    expect(v({ queryType: 'topn', sortBy: 'latency' as 'p99' })).toEqual([
      'Unknown sort order "latency": use requests, errors, denied, p99.',
    ]);
    // Kept when switching types, ignored by the others (as the backend does).
    expect(v({ queryType: 'timeseries', sortBy: 'latency' as 'p99' })).toEqual([]);
  });

  it('reports every problem at once', () => {
    expect(v({ queryType: 'latency', quantiles: [2], limit: -3, filter: { codes: ['x'] } })).toHaveLength(3);
  });
});
