import React from 'react';
import { Field, FieldSet, InlineSwitch, RadioButtonGroup } from '@grafana/ui';

import { LokiSourceOptions } from '../../types';
import type { Props } from '../ConfigEditor';
import { SecretField, TextField, toNumber } from './fields';

type Auth = NonNullable<LokiSourceOptions['auth']>;

/** Settings of the Loki source (jsonData.loki); see docs/loki.md. */
export function LokiSection(props: Props) {
  const { options, onOptionsChange } = props;
  const loki: LokiSourceOptions = options.jsonData.loki ?? {};
  const update = (patch: Partial<LokiSourceOptions>) =>
    onOptionsChange({ ...options, jsonData: { ...options.jsonData, loki: { ...loki, ...patch } } });
  const auth: Auth = loki.auth ?? 'none';
  return (
    <>
      <FieldSet label="Loki connection">
        <TextField
          id="audit-loki-url"
          label="URL"
          description="Loki, its query frontend or gateway, without /loki/api/v1."
          placeholder="http://loki:3100"
          value={loki.url}
          onChange={(url) => update({ url })}
        />
        <Field label="Authentication">
          <RadioButtonGroup<Auth>
            aria-label="Loki authentication"
            options={[
              { value: 'none', label: 'None' },
              { value: 'basic', label: 'Basic' },
              { value: 'bearer', label: 'Bearer token' },
            ]}
            value={auth}
            onChange={(next) => update({ auth: next })}
          />
        </Field>
        {auth === 'basic' && (
          <>
            <TextField
              id="audit-loki-user"
              label="User"
              value={loki.basicAuthUser}
              onChange={(basicAuthUser) => update({ basicAuthUser })}
            />
            <SecretField {...props} secureKey="lokiBasicAuthPassword" label="Password" />
          </>
        )}
        {auth === 'bearer' && <SecretField {...props} secureKey="lokiBearerToken" label="Token" />}
        <TextField
          id="audit-loki-tenant"
          label="Tenant"
          description="Sent as X-Scope-OrgID to multi-tenant Loki."
          value={loki.tenant}
          onChange={(tenant) => update({ tenant })}
        />
        <Field label="TLS client certificate" description="Authenticate to Loki with a client certificate (mTLS).">
          <InlineSwitch
            aria-label="TLS client certificate"
            value={loki.tlsClientAuth ?? false}
            onChange={(e) => update({ tlsClientAuth: e.currentTarget.checked || undefined })}
          />
        </Field>
        {loki.tlsClientAuth && (
          <>
            <SecretField {...props} secureKey="lokiTLSClientCert" label="Client certificate (PEM)" />
            <SecretField {...props} secureKey="lokiTLSClientKey" label="Client key (PEM)" />
          </>
        )}
        <Field label="Custom CA" description="Verify Loki's certificate with this CA.">
          <InlineSwitch
            aria-label="Custom CA"
            value={loki.tlsWithCACert ?? false}
            onChange={(e) => update({ tlsWithCACert: e.currentTarget.checked || undefined })}
          />
        </Field>
        {loki.tlsWithCACert && <SecretField {...props} secureKey="lokiTLSCACert" label="CA certificate (PEM)" />}
        <Field label="Skip TLS verification" description="Insecure: only for testing.">
          <InlineSwitch
            aria-label="Skip TLS verification"
            value={loki.tlsSkipVerify ?? false}
            onChange={(e) => update({ tlsSkipVerify: e.currentTarget.checked || undefined })}
          />
        </Field>
        <TextField
          id="audit-loki-timeout"
          label="Timeout (seconds)"
          type="number"
          width={20}
          placeholder="60"
          value={loki.timeoutSeconds}
          onChange={(v) => update({ timeoutSeconds: toNumber(v) })}
        />
      </FieldSet>
      <FieldSet label="Audit stream">
        <TextField
          id="audit-loki-selector"
          label="Stream selector"
          description="The LogQL stream selector of the audit log, as Promtail or Alloy label it."
          placeholder='{job="kubernetes-audit"}'
          value={loki.selector}
          onChange={(selector) => update({ selector })}
        />
        <TextField
          id="audit-loki-lag"
          label="Ingestion lag"
          description="How much later than the event Loki stamps a line (e.g. 2m); 0 when the pipeline stamps lines with stageTimestamp, which makes pushdown exact."
          placeholder="0"
          width={20}
          value={loki.ingestionLag}
          onChange={(ingestionLag) => update({ ingestionLag })}
        />
        <TextField
          id="audit-loki-max-lines"
          label="Max lines per query"
          description="Budget of lines one query pulls (a notice says when it is hit)."
          type="number"
          width={20}
          placeholder="2000000"
          value={loki.maxLines}
          onChange={(v) => update({ maxLines: toNumber(v) })}
        />
        <TextField
          id="audit-loki-page"
          label="Page size"
          description="Lines per request: at most the server's max_entries_limit_per_query."
          type="number"
          width={20}
          placeholder="5000"
          value={loki.pageSize}
          onChange={(v) => update({ pageSize: toNumber(v) })}
        />
        <TextField
          id="audit-loki-max-length"
          label="Max query length"
          description="The server's max_query_length; longer ranges are split."
          placeholder="720h"
          width={20}
          value={loki.maxQueryLength}
          onChange={(maxQueryLength) => update({ maxQueryLength })}
        />
        <TextField
          id="audit-loki-parallelism"
          label="Parallel requests"
          description="Requests one count sends to Loki at once."
          type="number"
          width={20}
          placeholder="4"
          value={loki.parallelism}
          onChange={(v) => update({ parallelism: toNumber(v) })}
        />
        <TextField
          id="audit-loki-cache-mb"
          label="Count cache (MB)"
          description="Finished buckets of counts kept in memory: a refresh asks Loki only for the rest."
          type="number"
          width={20}
          placeholder="64"
          value={loki.countCacheMB}
          onChange={(v) => update({ countCacheMB: toNumber(v) })}
        />
        <TextField
          id="audit-loki-finished-after"
          label="Buckets final after"
          description="A bucket's count is kept once its end is this old (lines reach Loki at most this late)."
          placeholder="5m"
          width={20}
          value={loki.finishedAfter}
          onChange={(finishedAfter) => update({ finishedAfter })}
        />
      </FieldSet>
    </>
  );
}
