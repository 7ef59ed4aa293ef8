import { AuditQuery } from '../../types';
import { summarize } from './summarize';

const s = (q: Partial<AuditQuery>) => summarize({ refId: 'A', ...q } as AuditQuery);

describe('summarize', () => {
  describe('timeseries', () => {
    it('names the metric, the grouping and the conditions', () => {
      expect(s({ queryType: 'timeseries', metric: 'rate', groupBy: ['verb'], filter: { codes: ['4xx'] } })).toBe(
        'Requests per second by verb where code is 4xx'
      );
    });
    it('is the timeseries count by default', () => {
      expect(s({})).toBe('Request count');
      expect(s({ queryType: 'TimeSeries' as AuditQuery['queryType'] })).toBe('Request count');
    });
    it('phrases includes, exclusions, globs, search and the limit', () => {
      expect(
        s({
          queryType: 'timeseries',
          filter: { users: ['alice', 'bob', '!system:node:*'], userKinds: ['human'], search: 'kubectl' },
          limit: 5,
        })
      ).toBe(
        'Request count where user is alice or bob and user does not match system:node:* and user kind is human and the line contains "kubectl", top 5 series'
      );
      expect(s({ filter: { namespaces: ['kube-*'], codes: ['!5xx'] } })).toBe(
        'Request count where namespace matches kube-* and code is not 5xx'
      );
    });
    it('shortens long lists and says "requests" after verbs alone', () => {
      expect(s({ filter: { verbs: ['get', 'list', 'watch', 'create', 'delete'] } })).toBe(
        'Request count of get, list, watch or 2 more requests'
      );
      expect(s({ filter: { verbs: ['get', 'list'], resources: ['pods', 'secrets'] } })).toBe(
        'Request count of get or list pods or secrets'
      );
    });
    it('keeps template variables as written', () => {
      expect(
        s({ groupBy: ['$dim'], filter: { namespaces: ['$ns'], decisions: ['forbid'], stages: ['ResponseStarted'] } })
      ).toBe('Request count by $dim where namespace is $ns and decision is forbid and stage is ResponseStarted');
    });
    it('ignores empty entries', () => {
      expect(s({ groupBy: [], filter: { verbs: [''], users: [], search: '' } })).toBe('Request count');
    });
  });

  describe('latency', () => {
    it('reads like "p99 latency of list pods by user, excluding watch"', () => {
      expect(
        s({
          queryType: 'latency',
          quantiles: [0.99],
          groupBy: ['user.username'],
          filter: { verbs: ['list', '!watch'], resources: ['pods'] },
        })
      ).toBe('p99 latency of list pods by user, excluding watch');
    });
    it('uses the default quantiles and formats fractional ones', () => {
      expect(s({ queryType: 'latency' })).toBe('p50, p90 and p99 latency');
      expect(s({ queryType: 'latency', quantiles: [0.5, 0.9, 0.999], groupBy: ['verb', 'objectRef.resource'] })).toBe(
        'p50, p90 and p99.9 latency by verb and resource'
      );
    });
    it('describes the heatmap, subresources and long-running requests', () => {
      expect(
        s({
          queryType: 'latency',
          format: 'heatmap',
          filter: { resources: ['pods'], subresources: ['exec'] },
          includeLongRunning: true,
        })
      ).toBe('Latency heatmap of pods/exec, including long-running requests');
    });
    it('mentions the series limit', () => {
      expect(s({ queryType: 'latency', quantiles: [0.5], limit: 3 })).toBe('p50 latency, top 3 series');
    });
  });

  it('denied', () => {
    expect(s({ queryType: 'denied' })).toBe('Denied requests (401/403), newest first');
    expect(
      s({ queryType: 'denied', filter: { verbs: ['get'], resources: ['secrets'], sourceIPs: ['10.*'] }, limit: 50 })
    ).toBe('Denied get secrets requests (401/403) where source IP matches 10.*, newest first, at most 50 rows');
    expect(s({ queryType: 'denied', filter: { verbs: ['list'] } })).toBe(
      'Denied list requests (401/403), newest first'
    );
  });

  it('topn', () => {
    expect(s({ queryType: 'topn' })).toBe('Top 10 users by requests');
    expect(s({ queryType: 'topn', groupBy: ['sourceIPs'], limit: 5, filter: { codes: ['403'] } })).toBe(
      'Top 5 source IPs by requests where code is 403'
    );
    expect(s({ queryType: 'topn', groupBy: ['user.username', 'verb'], includeLongRunning: true })).toBe(
      'Top 10 user × verb combinations by requests, including long-running requests'
    );
    expect(s({ queryType: 'topn', groupBy: ['verb', 'objectRef.resource'], sortBy: 'p99', limit: 25 })).toBe(
      'Top 25 verb × resource combinations by p99 latency'
    );
    expect(s({ queryType: 'topn', sortBy: 'denied' })).toBe('Top 10 users by denials');
  });

  it('matrix', () => {
    expect(s({ queryType: 'matrix' })).toBe('Requests by user × resource');
    expect(
      s({ queryType: 'matrix', rows: 'user', columns: 'verb', limit: 20, filter: { resources: ['secrets'] } })
    ).toBe('Requests of secrets by user × verb, top 20 of each');
  });

  it('events', () => {
    expect(s({ queryType: 'events' })).toBe('Events, newest first, as logs');
    expect(
      s({ queryType: 'events', format: 'table', filter: { verbs: ['delete'], namespaces: ['default'] }, limit: 200 })
    ).toBe('Events of delete requests where namespace is default, newest first, as a table, at most 200 events');
  });

  it('detections', () => {
    expect(s({ queryType: 'detections', rules: ['exec-*'], severities: ['high', 'critical'] })).toBe(
      'Findings of rules exec-* (high, critical)'
    );
    expect(s({ queryType: 'detections' })).toBe('Findings of all rules');
    expect(s({ queryType: 'detections', rules: ['exec-into-pod'] })).toBe('Findings of rule exec-into-pod');
    expect(s({ queryType: 'detections', format: 'timeseries' })).toBe('Findings per interval of all rules');
    expect(
      s({
        queryType: 'detections',
        format: 'timeseries',
        rules: ['exec-into-pod'],
        groupBy: ['user', 'objectRef.namespace'],
      })
    ).toBe('Findings per interval of rule exec-into-pod by user and namespace');
    expect(
      s({
        queryType: 'detections',
        rules: ['exec-into-pod', 'port-forward'],
        filter: { namespaces: ['!kube-system'], verbs: ['create'] },
        limit: 10,
      })
    ).toBe(
      'Findings of rules exec-into-pod and port-forward where verb is create and namespace is not kube-system, at most 10 findings'
    );
  });

  it('detections: allow-lists, briefly', () => {
    expect(s({ queryType: 'detections', allow: { users: ['system:serviceaccount:ci:*'] } })).toBe(
      'Findings of all rules, allow-listing user system:serviceaccount:ci:*'
    );
    expect(
      s({
        queryType: 'detections',
        severities: ['high'],
        limit: 10,
        allow: {
          users: ['alice', 'bob'],
          groups: [],
          namespaces: ['debug-*'],
          images: [' '],
          sourceNetworks: ['10.0.0.0/8', '192.0.2.1', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32'],
        },
      })
    ).toBe(
      'Findings of all rules (high), at most 10 findings, allow-listing users alice and bob; namespace debug-*; source networks 10.0.0.0/8, 192.0.2.1, 198.51.100.0/24 and 2 more'
    );
    // Empty lists say nothing.
    expect(s({ queryType: 'detections', allow: { users: [], namespaces: [''] } })).toBe('Findings of all rules');
  });

  it('latencyBreakdown', () => {
    expect(s({ queryType: 'latencyBreakdown' })).toBe('Latency breakdown of slow requests');
    expect(s({ queryType: 'latencyBreakdown', filter: { verbs: ['create'] } })).toBe(
      'Latency breakdown of slow requests where verb is create'
    );
    expect(s({ queryType: 'latencyBreakdown', format: 'table' })).toBe(
      'Slowest 20 requests with their latency breakdown'
    );
    expect(s({ queryType: 'latencyBreakdown', format: 'table', limit: 5, filter: { resources: ['pods'] } })).toBe(
      'Slowest 5 requests with their latency breakdown of pods'
    );
    expect(s({ queryType: 'latencyBreakdown', includeLongRunning: true })).toMatch(
      /^Latency breakdown of slow requests.*including long-running requests/
    );
  });

  it('deprecatedApis', () => {
    expect(s({ queryType: 'deprecatedApis' })).toBe(
      'Deprecated API calls by user agent, user, API group, API version and resource'
    );
    expect(s({ queryType: 'deprecatedApis', groupBy: ['userAgent'], limit: 20 })).toBe(
      'Deprecated API calls by user agent, at most 20 rows'
    );
  });

  it('objectHistory', () => {
    expect(
      s({ queryType: 'objectHistory', filter: { names: ['web-1'], resources: ['pods'], namespaces: ['default'] } })
    ).toBe('History of pods web-1 in default, oldest first');
    expect(s({ queryType: 'objectHistory', filter: { names: ['web-1'] } })).toBe('History of web-1, oldest first');
    expect(
      s({
        queryType: 'objectHistory',
        filter: { resources: ['deployments'], namespaces: ['prod'], users: ['alice'] },
        limit: 10,
      })
    ).toBe('History of all deployments in prod where user is alice, oldest first, at most 10 actions');
    expect(s({ queryType: 'objectHistory' })).toBe(
      'History of an object (filter its name, or a resource and a namespace)'
    );
  });

  it('pipelineHealth', () => {
    expect(s({ queryType: 'pipelineHealth' })).toBe('Audit pipeline health per origin');
    expect(s({ queryType: 'pipelineHealth', format: 'timeseries', limit: 3 })).toBe(
      'Audit events per second per origin, top 3 origins'
    );
  });

  it('says when the query type is unknown', () => {
    expect(s({ queryType: 'bogus' as AuditQuery['queryType'] })).toBe('Unknown query type "bogus"');
  });

  it('tolerates hand-written values (numbers, single strings)', () => {
    const q = { refId: 'A', filter: { codes: [403] }, groupBy: 'verb' } as unknown as AuditQuery;
    expect(summarize(q)).toBe('Request count by verb where code is 403');
  });
});
