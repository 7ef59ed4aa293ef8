import React from 'react';
import { Field, FieldSet, RadioButtonGroup } from '@grafana/ui';

import { CloudWatchSourceOptions } from '../../types';
import { StringListInput } from '../ListInput';
import type { Props } from '../ConfigEditor';
import { SecretField, TextField, toNumber } from './fields';

type AuthType = NonNullable<CloudWatchSourceOptions['authType']>;

/** Settings of the CloudWatch Logs source (jsonData.cloudwatch), Grafana's AWS conventions. */
export function CloudWatchSection(props: Props) {
  const { options, onOptionsChange } = props;
  const cw: CloudWatchSourceOptions = options.jsonData.cloudwatch ?? {};
  const update = (patch: Partial<CloudWatchSourceOptions>) =>
    onOptionsChange({ ...options, jsonData: { ...options.jsonData, cloudwatch: { ...cw, ...patch } } });
  const authType: AuthType = cw.authType ?? 'default';
  return (
    <>
      <FieldSet label="AWS connection">
        <Field label="Authentication provider">
          <RadioButtonGroup<AuthType>
            aria-label="Authentication provider"
            options={[
              { value: 'default', label: 'AWS SDK default', description: 'Environment, instance or pod role' },
              { value: 'keys', label: 'Access and secret key' },
              { value: 'credentials', label: 'Credentials file', description: 'A profile of ~/.aws/credentials' },
            ]}
            value={authType}
            onChange={(next) => update({ authType: next })}
          />
        </Field>
        {authType === 'keys' && (
          <>
            <SecretField {...props} secureKey="accessKey" label="Access key ID" />
            <SecretField {...props} secureKey="secretKey" label="Secret access key" />
          </>
        )}
        {authType === 'credentials' && (
          <TextField
            id="audit-cw-profile"
            label="Profile"
            value={cw.profile}
            onChange={(profile) => update({ profile })}
          />
        )}
        <TextField
          id="audit-cw-role"
          label="Assume role ARN"
          placeholder="arn:aws:iam::123456789012:role/grafana-audit"
          value={cw.assumeRoleArn}
          onChange={(assumeRoleArn) => update({ assumeRoleArn })}
        />
        {cw.assumeRoleArn && (
          <TextField
            id="audit-cw-external-id"
            label="External ID"
            value={cw.externalId}
            onChange={(externalId) => update({ externalId })}
          />
        )}
        <TextField
          id="audit-cw-region"
          label="Default region"
          placeholder="us-east-1"
          width={20}
          value={cw.defaultRegion}
          onChange={(defaultRegion) => update({ defaultRegion })}
        />
        <TextField
          id="audit-cw-endpoint"
          label="Endpoint"
          description="Only for VPC endpoints or tests; empty uses AWS's."
          value={cw.endpoint}
          onChange={(endpoint) => update({ endpoint })}
        />
      </FieldSet>
      <FieldSet label="EKS audit logs">
        <TextField
          id="audit-cw-cluster"
          label="Cluster name"
          description="Reads the log group /aws/eks/<cluster>/cluster."
          value={cw.clusterName}
          onChange={(clusterName) => update({ clusterName })}
        />
        <Field label="Log groups" description="Other log groups holding audit streams (comma-separated).">
          <StringListInput
            id="audit-cw-groups"
            width={60}
            placeholder="/aws/eks/prod/cluster"
            value={cw.logGroups}
            onChange={(logGroups) => update({ logGroups })}
          />
        </Field>
        <TextField
          id="audit-cw-prefix"
          label="Audit stream prefix"
          placeholder="kube-apiserver-audit-"
          value={cw.streamPrefix}
          onChange={(streamPrefix) => update({ streamPrefix })}
        />
        <TextField
          id="audit-cw-insights-after"
          label="Use Logs Insights after"
          description="Time series over longer ranges are counted by Logs Insights (billed by bytes scanned)."
          placeholder="1h"
          width={20}
          value={cw.insightsAfter}
          onChange={(insightsAfter) => update({ insightsAfter })}
        />
        <TextField
          id="audit-cw-concurrency"
          label="Concurrent Insights queries"
          description="Per datasource; the account limit is about 30 per region."
          type="number"
          width={20}
          placeholder="5"
          value={cw.maxConcurrentInsights}
          onChange={(v) => update({ maxConcurrentInsights: toNumber(v) })}
        />
        <TextField
          id="audit-cw-cache-mb"
          label="Count cache (MB)"
          description="Finished buckets of Insights counts kept in memory: a refresh scans only the rest."
          type="number"
          width={20}
          placeholder="64"
          value={cw.countCacheMB}
          onChange={(v) => update({ countCacheMB: toNumber(v) })}
        />
        <TextField
          id="audit-cw-finished-after"
          label="Buckets final after"
          description="A bucket's count is kept once its end is this old (EKS delivers audit events minutes late)."
          placeholder="10m"
          width={20}
          value={cw.finishedAfter}
          onChange={(finishedAfter) => update({ finishedAfter })}
        />
        <TextField
          id="audit-cw-price"
          label="Price per GB scanned"
          description="USD, for the cost notice of Insights counts."
          type="number"
          width={20}
          placeholder="0.005"
          value={cw.pricePerGB}
          onChange={(v) => update({ pricePerGB: toNumber(v) })}
        />
      </FieldSet>
    </>
  );
}
