import {
  DataQueryRequest,
  DataQueryResponse,
  LiveChannelScope,
  LoadingState,
  StreamingFrameAction,
} from '@grafana/data';
import { getGrafanaLiveSrv } from '@grafana/runtime';
import { map, merge, Observable } from 'rxjs';

import { AuditQuery } from './types';

/**
 * Live tail (docs/live.md): events and detections queries stream over Grafana Live, on the
 * channel ds/<uid>/tail/<key> with the query as the subscription's data. The backend
 * (pkg/plugin/stream.go) sends each new matching event, or each new finding, once.
 */

/** A query that can say it wants to stream in a dashboard panel: `"stream": true`. */
export type LiveAuditQuery = AuditQuery & { stream?: boolean };

/** The query types the backend can tail. */
export const LIVE_QUERY_TYPES = ['events', 'detections'];

/** Rows kept per streamed frame in the browser when the request does not say. */
export const DEFAULT_LIVE_ROWS = 1000;

/**
 * The targets of a request that stream: all events and detections queries when Explore's Live
 * mode asks (request.liveStreaming), and those with `stream: true` otherwise. Hidden ones never.
 */
export function liveTargets(request: DataQueryRequest<AuditQuery>): LiveAuditQuery[] {
  return request.targets.filter((t: LiveAuditQuery) => {
    if (t.hide || !LIVE_QUERY_TYPES.includes(t.queryType ?? '')) {
      return false;
    }
    return Boolean(request.liveStreaming || t.stream);
  });
}

/** JSON with object keys sorted, so that equal queries give equal text. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) {
    return '[' + v.map(canonical).join(',') + ']';
  }
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return (
      '{' +
      Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort()
        .map((k) => JSON.stringify(k) + ':' + canonical(o[k]))
        .join(',') +
      '}'
    );
  }
  return JSON.stringify(v);
}

/**
 * The channel key of a query: a hash of what the backend runs (not refId, hide, datasource
 * or key), so that viewers of the same query share one tail in the backend.
 */
export function liveStreamKey(query: AuditQuery): string {
  const rest: Record<string, unknown> = { ...query };
  for (const k of ['refId', 'hide', 'datasource', 'key', 'stream']) {
    delete rest[k];
  }
  const text = canonical(rest);
  // FNV-1a, 64 bits as two 32-bit halves: a channel name, not a secret.
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x811c9dc5) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

/** Streams each (already interpolated) query from the datasource's tail channel. */
export function runLiveQueries(
  uid: string,
  request: DataQueryRequest<AuditQuery>,
  queries: LiveAuditQuery[]
): Observable<DataQueryResponse> {
  const maxLength = request.maxDataPoints && request.maxDataPoints > 0 ? request.maxDataPoints : DEFAULT_LIVE_ROWS;
  const streams = queries.map((q) => {
    const key = liveStreamKey(q);
    const data: Record<string, unknown> = { ...q };
    delete data.stream;
    return getGrafanaLiveSrv()
      .getDataStream({
        key: `${request.requestId}.${q.refId}`,
        addr: { scope: LiveChannelScope.DataSource, stream: uid, path: `tail/${key}`, data },
        buffer: { maxLength, maxDelta: Infinity, action: StreamingFrameAction.Append },
      })
      .pipe(
        map((response) => ({
          ...response,
          key: `${request.requestId}.${q.refId}`,
          state: response.state ?? LoadingState.Streaming,
        }))
      );
  });
  return merge(...streams);
}
