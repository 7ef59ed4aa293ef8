/**
 * A Grafana Live service for the browser test of live tail, over the live bridge
 * (pkg/e2e/livebridge_test.go): the bridge calls the built plugin's SubscribeStream and RunStream
 * as Grafana does and sends each stream packet's frame JSON as a server-sent event.
 *
 * getDataStream does what Grafana's own live service does with a datasource channel's packets:
 * the first one becomes a StreamingDataFrame (@grafana/data, the class Grafana uses), every next
 * one is pushed into it with the subscription's buffer options, and each packet gives a
 * DataQueryResponse in the Streaming state. Unsubscribing closes the stream, which ends
 * RunStream in the plugin (as Grafana does when a channel's last subscriber leaves).
 */
import {
  DataFrameJSON,
  DataQueryResponse,
  LiveChannelAddress,
  LiveChannelEvent,
  LiveChannelPresenceStatus,
  LoadingState,
  StreamingDataFrame,
} from '@grafana/data';
import type { GrafanaLiveSrv, LiveDataStreamOptions } from '@grafana/runtime';
import { Observable, of } from 'rxjs';

export class BridgeLiveSrv implements GrafanaLiveSrv {
  /** The addresses subscribed to, in order (the test asserts the channel). */
  readonly subscribed: LiveChannelAddress[] = [];

  constructor(private readonly bridge: string) {}

  getConnectionState(): Observable<boolean> {
    return of(true);
  }

  getStream<T>(_address: LiveChannelAddress): Observable<LiveChannelEvent<T>> {
    throw new Error('getStream: the plugin streams data frames only (getDataStream)');
  }

  getDataStream(options: LiveDataStreamOptions): Observable<DataQueryResponse> {
    return new Observable<DataQueryResponse>((subscriber) => {
      this.subscribed.push(options.addr);
      const params = new URLSearchParams({
        path: options.addr.path,
        data: JSON.stringify(options.addr.data ?? {}),
      });
      const source = new EventSource(`${this.bridge}/stream?${params}`);
      let frame: StreamingDataFrame | undefined;
      source.onmessage = (ev: MessageEvent<string>) => {
        const msg = JSON.parse(ev.data) as DataFrameJSON;
        if (!frame) {
          frame = StreamingDataFrame.fromDataFrameJSON(msg, options.buffer);
        } else {
          frame.push(msg);
        }
        subscriber.next({ key: options.key, state: LoadingState.Streaming, data: [frame] });
      };
      source.onerror = () => {
        // The bridge never ends a stream by itself while the page subscribes: an error here
        // is the test's failure, shown on the page, not a reconnect.
        source.close();
        subscriber.next({
          key: options.key,
          state: LoadingState.Error,
          data: frame ? [frame] : [],
          errors: [{ message: `live stream ${options.addr.path} failed` }],
        });
      };
      return () => source.close();
    });
  }

  getPresence(_address: LiveChannelAddress): Promise<LiveChannelPresenceStatus> {
    return Promise.reject(new Error('getPresence: not used by the plugin'));
  }

  publish(_address: LiveChannelAddress, _data: unknown): Promise<unknown> {
    return Promise.reject(new Error('publish: the plugin does not accept publications'));
  }
}
