import React, { ComponentType } from 'react';
import { QueryEditorProps } from '@grafana/data';
import {
  Combobox,
  ComboboxOption,
  ErrorBoundaryAlert,
  InlineField,
  InlineFieldRow,
  InlineSwitch,
  Input,
  MultiCombobox,
  RadioButtonGroup,
  Stack,
  Text,
} from '@grafana/ui';

import { DataSource } from '../datasource';
import {
  AuditDataSourceOptions,
  AuditFilter,
  AuditFilterListKey,
  AuditQuery,
  DEFAULT_QUANTILES,
  DIMENSIONS,
  QUERY_TYPES,
  QueryFormat,
  QueryType,
  Severity,
  TimeSeriesMetric,
} from '../types';
import { ListInput, StringListInput } from './ListInput';

export type Props = QueryEditorProps<DataSource, AuditQuery, AuditDataSourceOptions>;

const LABEL_WIDTH = 14;

const DIMENSION_OPTIONS: Array<ComboboxOption<string>> = DIMENSIONS.map((d) => ({
  value: d.name,
  label: d.label,
  description: d.name,
}));

function dimensionOption(name: string): ComboboxOption<string> {
  return DIMENSION_OPTIONS.find((o) => o.value === name) ?? { value: name, label: name };
}

/** Filter fields shown for every query type: the filter key, its label and an example. */
const COMMON_FILTERS: ReadonlyArray<{ key: AuditFilterListKey; label: string; placeholder: string; tooltip: string }> =
  [
    { key: 'verbs', label: 'Verbs', placeholder: 'get, list, delete', tooltip: 'Request verbs.' },
    {
      key: 'users',
      label: 'Users',
      placeholder: 'alice, system:serviceaccount:*, !system:node:*',
      tooltip: 'User names. * is a glob, a leading ! excludes.',
    },
    { key: 'namespaces', label: 'Namespaces', placeholder: 'default, kube-*', tooltip: 'Object namespaces.' },
    { key: 'resources', label: 'Resources', placeholder: 'pods, secrets', tooltip: 'Object resources (plural).' },
    { key: 'codes', label: 'Codes', placeholder: '403, 4xx, 5xx', tooltip: 'Response codes or classes such as 4xx.' },
    {
      key: 'userKinds',
      label: 'User kinds',
      placeholder: 'human, serviceaccount, node, system, anonymous',
      tooltip: 'Derived kind of the user.',
    },
  ];

/** Accepts 0.99, 99 and p99 for the 99th percentile, as the backend does. */
export function parseQuantiles(text: string): number[] {
  const out: number[] = [];
  for (const raw of text.split(',')) {
    let s = raw.trim();
    if (s === '') {
      continue;
    }
    const percent = s.startsWith('p');
    if (percent) {
      s = s.slice(1);
    }
    if (!/^\d+(\.\d+)?$|^\.\d+$/.test(s)) {
      continue;
    }
    let v = Number(s);
    if (percent || v > 1) {
      v /= 100;
    }
    if (v > 0 && v <= 1) {
      out.push(v);
    }
  }
  return out;
}

interface OptionsProps {
  query: AuditQuery;
  update: (patch: Partial<AuditQuery>, run?: boolean) => void;
  onRunQuery: () => void;
}

function GroupByField({ query, update, label }: OptionsProps & { label?: string }) {
  return (
    <InlineField
      label={label ?? 'Group by'}
      labelWidth={LABEL_WIDTH}
      tooltip="Dimensions to split by. Template variables such as $dim are allowed."
    >
      <MultiCombobox<string>
        id="audit-group-by"
        width="auto"
        minWidth={24}
        options={DIMENSION_OPTIONS}
        value={(query.groupBy ?? []).map(dimensionOption)}
        createCustomValue
        isClearable
        onChange={(options) => {
          const groupBy = options.map((o) => o.value);
          update({ groupBy: groupBy.length > 0 ? groupBy : undefined }, true);
        }}
      />
    </InlineField>
  );
}

function LimitField({ query, update, onRunQuery, tooltip }: OptionsProps & { tooltip: string }) {
  return (
    <InlineField label="Limit" labelWidth={LABEL_WIDTH} tooltip={tooltip}>
      <Input
        id="audit-limit"
        type="number"
        min={1}
        width={12}
        placeholder="default"
        value={query.limit ?? ''}
        onChange={(e) => {
          const n = parseInt(e.currentTarget.value, 10);
          update({ limit: Number.isFinite(n) && n > 0 ? n : undefined });
        }}
        onBlur={onRunQuery}
      />
    </InlineField>
  );
}

function FormatField({
  query,
  update,
  options,
}: OptionsProps & { options: Array<{ value: QueryFormat; label: string }> }) {
  const current = options.some((o) => o.value === query.format) ? query.format : options[0].value;
  return (
    <InlineField label="Format" labelWidth={LABEL_WIDTH}>
      <RadioButtonGroup<QueryFormat>
        aria-label="Format"
        options={options}
        value={current}
        onChange={(format) => update({ format }, true)}
      />
    </InlineField>
  );
}

function LongRunningField({ query, update }: OptionsProps) {
  return (
    <InlineField
      label="Long-running"
      labelWidth={LABEL_WIDTH}
      tooltip="Include watch, exec, attach, proxy, log and portforward requests in latency."
    >
      <InlineSwitch
        id="audit-long-running"
        value={query.includeLongRunning ?? false}
        onChange={(e) => update({ includeLongRunning: e.currentTarget.checked || undefined }, true)}
      />
    </InlineField>
  );
}

function TimeSeriesOptions(props: OptionsProps) {
  const { query, update } = props;
  return (
    <InlineFieldRow>
      <InlineField label="Metric" labelWidth={LABEL_WIDTH}>
        <RadioButtonGroup<TimeSeriesMetric>
          aria-label="Metric"
          options={[
            { value: 'count', label: 'Count', description: 'Requests per interval' },
            { value: 'rate', label: 'Rate', description: 'Requests per second' },
          ]}
          value={query.metric ?? 'count'}
          onChange={(metric) => update({ metric }, true)}
        />
      </InlineField>
      <GroupByField {...props} />
      <LimitField {...props} tooltip="Number of series kept (by total); the rest are summed as 'other'." />
    </InlineFieldRow>
  );
}

function LatencyOptions(props: OptionsProps) {
  const { query, update, onRunQuery } = props;
  return (
    <InlineFieldRow>
      <FormatField
        {...props}
        options={[
          { value: 'timeseries', label: 'Percentiles' },
          { value: 'heatmap', label: 'Heatmap' },
        ]}
      />
      {query.format !== 'heatmap' && (
        <InlineField label="Quantiles" labelWidth={LABEL_WIDTH} tooltip="For example 0.5, 0.9, 0.99 (or p50, p99).">
          <ListInput<number>
            id="audit-quantiles"
            width={20}
            placeholder={DEFAULT_QUANTILES.join(', ')}
            value={query.quantiles}
            parse={parseQuantiles}
            format={String}
            onChange={(quantiles) => update({ quantiles })}
            onBlur={onRunQuery}
          />
        </InlineField>
      )}
      <GroupByField {...props} />
      <LongRunningField {...props} />
      <LimitField {...props} tooltip="Number of groups kept." />
    </InlineFieldRow>
  );
}

function DeniedOptions(props: OptionsProps) {
  return (
    <InlineFieldRow>
      <LimitField {...props} tooltip="Maximum rows (default 100, at most 10000)." />
    </InlineFieldRow>
  );
}

function TopNOptions(props: OptionsProps) {
  return (
    <InlineFieldRow>
      <GroupByField {...props} label="Top" />
      <LongRunningField {...props} />
      <LimitField {...props} tooltip="Number of rows (default 10)." />
    </InlineFieldRow>
  );
}

function MatrixOptions(props: OptionsProps) {
  const { query, update } = props;
  const axis = (key: 'rows' | 'columns', label: string, placeholder: string) => (
    <InlineField label={label} labelWidth={LABEL_WIDTH}>
      <Combobox<string>
        id={`audit-${key}`}
        width={28}
        placeholder={placeholder}
        options={DIMENSION_OPTIONS}
        value={query[key] ? dimensionOption(query[key]!) : null}
        createCustomValue
        isClearable
        onChange={(option) => update({ [key]: option?.value || undefined }, true)}
      />
    </InlineField>
  );
  return (
    <InlineFieldRow>
      {axis('rows', 'Rows', 'user.username')}
      {axis('columns', 'Columns', 'objectRef.resource')}
      <LimitField {...props} tooltip="Rows and columns kept on each axis (default 10)." />
    </InlineFieldRow>
  );
}

function EventsOptions(props: OptionsProps) {
  return (
    <InlineFieldRow>
      <FormatField
        {...props}
        options={[
          { value: 'logs', label: 'Logs' },
          { value: 'table', label: 'Table' },
        ]}
      />
      <LimitField {...props} tooltip="Maximum events (default 100, at most 5000)." />
    </InlineFieldRow>
  );
}

const SEVERITIES: Severity[] = ['low', 'medium', 'high', 'critical'];

function DetectionsOptions(props: OptionsProps) {
  const { query, update, onRunQuery } = props;
  return (
    <InlineFieldRow>
      <FormatField
        {...props}
        options={[
          { value: 'table', label: 'Findings' },
          { value: 'timeseries', label: 'Counts' },
        ]}
      />
      <InlineField label="Rules" labelWidth={LABEL_WIDTH} tooltip="Rule ids, * globs; all rules when empty.">
        <StringListInput
          id="audit-rules"
          width={30}
          placeholder="all rules"
          value={query.rules}
          onChange={(rules) => update({ rules })}
          onBlur={onRunQuery}
        />
      </InlineField>
      <InlineField label="Severities" labelWidth={LABEL_WIDTH}>
        <StringListInput
          id="audit-severities"
          width={24}
          placeholder={SEVERITIES.join(', ')}
          value={query.severities}
          onChange={(severities) => update({ severities: severities as Severity[] | undefined })}
          onBlur={onRunQuery}
        />
      </InlineField>
      <LimitField {...props} tooltip="Maximum findings (default 100)." />
    </InlineFieldRow>
  );
}

function LatencyBreakdownOptions(props: OptionsProps) {
  return (
    <InlineFieldRow>
      <FormatField
        {...props}
        options={[
          { value: 'timeseries', label: 'Components' },
          { value: 'table', label: 'Slowest requests' },
        ]}
      />
      <LimitField {...props} tooltip="Slowest requests listed (default 20)." />
    </InlineFieldRow>
  );
}

function DeprecatedOptions(props: OptionsProps) {
  return (
    <InlineFieldRow>
      <GroupByField {...props} label="Group by" />
      <LimitField {...props} tooltip="Maximum rows (default 100)." />
    </InlineFieldRow>
  );
}

function PipelineOptions(props: OptionsProps) {
  return (
    <InlineFieldRow>
      <FormatField
        {...props}
        options={[
          { value: 'table', label: 'Table' },
          { value: 'timeseries', label: 'Events/s' },
        ]}
      />
      <LimitField {...props} tooltip="Origins kept (default 10)." />
    </InlineFieldRow>
  );
}

/** One options editor per query type. */
const OPTIONS_EDITORS: Record<QueryType, ComponentType<OptionsProps>> = {
  timeseries: TimeSeriesOptions,
  latency: LatencyOptions,
  denied: DeniedOptions,
  topn: TopNOptions,
  matrix: MatrixOptions,
  events: EventsOptions,
  detections: DetectionsOptions,
  latencyBreakdown: LatencyBreakdownOptions,
  deprecatedApis: DeprecatedOptions,
  objectHistory: DeniedOptions,
  pipelineHealth: PipelineOptions,
};

function QueryEditorBody({ query, onChange, onRunQuery }: Props) {
  const queryType: QueryType = query.queryType && query.queryType in OPTIONS_EDITORS ? query.queryType : 'timeseries';
  const description = QUERY_TYPES.find((t) => t.value === queryType)?.description;
  const Options = OPTIONS_EDITORS[queryType];

  const update = (patch: Partial<AuditQuery>, run = false) => {
    onChange({ ...query, ...patch });
    if (run) {
      onRunQuery();
    }
  };
  const updateFilter = (patch: Partial<AuditFilter>) => update({ filter: { ...query.filter, ...patch } });

  return (
    <Stack direction="column" gap={1}>
      <InlineFieldRow>
        <InlineField label="Query type" labelWidth={LABEL_WIDTH}>
          <RadioButtonGroup<QueryType>
            aria-label="Query type"
            options={QUERY_TYPES.map((t) => ({ value: t.value, label: t.label, description: t.description }))}
            value={queryType}
            // Only the type changes: every other field stays as the user left it.
            onChange={(next) => update({ queryType: next }, true)}
          />
        </InlineField>
      </InlineFieldRow>
      {description && (
        <div data-testid="query-type-description">
          <Text variant="bodySmall" color="secondary">
            {description}
          </Text>
        </div>
      )}

      <InlineFieldRow>
        {COMMON_FILTERS.map((f) => (
          <InlineField key={f.key} label={f.label} labelWidth={LABEL_WIDTH} tooltip={f.tooltip}>
            <StringListInput
              id={`audit-filter-${f.key}`}
              width={32}
              placeholder={f.placeholder}
              value={query.filter?.[f.key]}
              onChange={(list) => updateFilter({ [f.key]: list })}
              onBlur={onRunQuery}
            />
          </InlineField>
        ))}
        <InlineField label="Search" labelWidth={LABEL_WIDTH} tooltip="Substring of the raw audit log line.">
          <Input
            id="audit-filter-search"
            width={32}
            placeholder="text in the raw line"
            value={query.filter?.search ?? ''}
            onChange={(e) => updateFilter({ search: e.currentTarget.value || undefined })}
            onBlur={onRunQuery}
          />
        </InlineField>
      </InlineFieldRow>

      <Options query={query} update={update} onRunQuery={onRunQuery} />
    </Stack>
  );
}

export function QueryEditor(props: Props) {
  return (
    <ErrorBoundaryAlert title="The query editor failed" boundaryName="k8saudit-query-editor">
      <QueryEditorBody {...props} />
    </ErrorBoundaryAlert>
  );
}
