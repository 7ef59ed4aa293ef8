import React, { ComponentType, useMemo, useRef } from 'react';
import { css } from '@emotion/css';
import { QueryEditorProps } from '@grafana/data';
import {
  Alert,
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
  AuditQuery,
  DEFAULT_QUANTILES,
  DetectionAllow,
  QueryFormat,
  QueryType,
  Severity,
  TimeSeriesMetric,
  TopNSortBy,
} from '../types';
import { FilterEditor } from './editor/FilterEditor';
import { FINDING_DIMENSIONS } from './editor/model';
import { dimensionOptions, useDimensions, useValuesLoader } from './editor/resources';
import { formatsOf, QuerySchema, QueryTypeSchema, typeSchema, useSchema } from './editor/schema';
import { summarize } from './editor/summarize';
import { effectiveQueryType, validate } from './editor/validate';
import { asList, ValuesPicker } from './editor/ValuesPicker';
import { ListInput, StringListInput } from './ListInput';

export type Props = QueryEditorProps<DataSource, AuditQuery, AuditDataSourceOptions>;

const LABEL_WIDTH = 14;

/**
 * A RadioButtonGroup that wraps onto more lines instead of running past a narrow editor (a
 * query editor beside a panel, Explore split in two): @grafana/ui's group never wraps.
 */
const wrapping = css({ flexWrap: 'wrap', minWidth: 0, maxWidth: '100%' });

function dimensionOption(options: Array<ComboboxOption<string>>, name: string): ComboboxOption<string> {
  return options.find((o) => o.value === name) ?? { value: name, label: name };
}

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
  /** Applies a change; `run` runs the query when it is valid. */
  update: (patch: Partial<AuditQuery>, run?: boolean) => void;
  /** Runs the query when it is valid. */
  onRunQuery: () => void;
  /** Group-by and matrix axis options (GET /dimensions, static list as a fallback). */
  dimensions: Array<ComboboxOption<string>>;
  /** The query type's formats, limits and defaults (GET /schema, a fallback while it loads). */
  type: QueryTypeSchema;
  /** The whole schema: detection rules and severities. */
  schema: QuerySchema;
}

function GroupByField({ query, update, label, dimensions }: OptionsProps & { label?: string }) {
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
        options={dimensions}
        value={asList(query.groupBy).map((name) => dimensionOption(dimensions, name))}
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

/** The limit of the query type, with its default and maximum from the schema. */
function LimitField({ query, update, onRunQuery, tooltip, type }: OptionsProps & { tooltip: string }) {
  const { default: def, max } = type.limits;
  return (
    <InlineField label="Limit" labelWidth={LABEL_WIDTH} tooltip={`${tooltip} Default ${def}, at most ${max}.`}>
      <Input
        id="audit-limit"
        type="number"
        min={1}
        max={max}
        width={12}
        placeholder={String(def)}
        value={query.limit ?? ''}
        onChange={(e) => {
          const n = parseInt(e.currentTarget.value, 10);
          // 0 or nothing: the backend's default. Negative limits are kept so that validation shows them.
          update({ limit: Number.isFinite(n) && n !== 0 ? n : undefined });
        }}
        onBlur={onRunQuery}
      />
    </InlineField>
  );
}

/** What the editor calls each format of a query type; the formats themselves are the schema's. */
const FORMAT_LABELS: Partial<Record<QueryType, Partial<Record<QueryFormat, string>>>> = {
  latency: { timeseries: 'Percentiles', heatmap: 'Heatmap' },
  events: { logs: 'Logs', table: 'Table' },
  detections: { table: 'Findings', timeseries: 'Counts' },
  latencyBreakdown: { timeseries: 'Components', table: 'Slowest requests' },
  pipelineHealth: { table: 'Table', timeseries: 'Events/s' },
};

const DEFAULT_FORMAT_LABELS: Record<QueryFormat, string> = {
  timeseries: 'Time series',
  heatmap: 'Heatmap',
  logs: 'Logs',
  table: 'Table',
};

/** The formats of the query type (GET /schema), the default first; nothing for types with one shape. */
function FormatField({ query, update, type }: OptionsProps) {
  const options = type.formats.map((value) => ({
    value,
    label: FORMAT_LABELS[type.name]?.[value] ?? DEFAULT_FORMAT_LABELS[value] ?? value,
  }));
  if (options.length === 0) {
    return null;
  }
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
      // Its own width: the standard one is too narrow for the text and its tooltip icon.
      labelWidth="auto"
      tooltip="Include watch, exec, attach, proxy, log and portforward requests: their latency is how long the stream stayed open."
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
      <FormatField {...props} />
      {query.format !== 'heatmap' && (
        <InlineField label="Quantiles" labelWidth={LABEL_WIDTH} tooltip="For example 0.5, 0.9, 0.99 (or p50, p99).">
          <ListInput<number>
            id="audit-quantiles"
            width={20}
            placeholder={(props.type.defaults.quantiles ?? DEFAULT_QUANTILES).join(', ')}
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
      <LimitField {...props} tooltip="Maximum rows." />
    </InlineFieldRow>
  );
}

/** What the editor calls each order of topn rows; the orders themselves are the schema's. */
const SORT_LABELS: Record<string, { label: string; description: string }> = {
  requests: { label: 'Requests', description: 'The busiest first' },
  errors: { label: 'Errors', description: 'The most 4xx and 5xx responses first' },
  denied: { label: 'Denied', description: 'The most 401 and 403 responses first' },
  p99: { label: 'p99', description: 'The slowest first (99th percentile latency)' },
};

/** topn: what every group is ranked by before the limit keeps the first rows. */
function SortByField({ query, update, type }: OptionsProps) {
  const orders = type.sortBy ?? [];
  if (orders.length === 0) {
    return null;
  }
  const options = orders.map((value) => ({ value: value as TopNSortBy, ...(SORT_LABELS[value] ?? { label: value }) }));
  return (
    <InlineField
      label="Sort by"
      labelWidth={LABEL_WIDTH}
      tooltip="Every group is ranked by this before the limit keeps the top rows: p99 gives the slowest groups of all, not the busiest re-sorted."
    >
      <RadioButtonGroup<TopNSortBy>
        aria-label="Sort by"
        options={options}
        value={(query.sortBy ?? orders[0]) as TopNSortBy}
        onChange={(sortBy) => update({ sortBy: sortBy === orders[0] ? undefined : sortBy }, true)}
      />
    </InlineField>
  );
}

function TopNOptions(props: OptionsProps) {
  return (
    <InlineFieldRow>
      <GroupByField {...props} label="Top" />
      <SortByField {...props} />
      <LongRunningField {...props} />
      <LimitField {...props} tooltip="Number of rows." />
    </InlineFieldRow>
  );
}

function MatrixOptions(props: OptionsProps) {
  const { query, update, dimensions } = props;
  const axis = (key: 'rows' | 'columns', label: string, placeholder: string) => (
    <InlineField label={label} labelWidth={LABEL_WIDTH}>
      <Combobox<string>
        id={`audit-${key}`}
        width={28}
        placeholder={placeholder}
        options={dimensions}
        value={query[key] ? dimensionOption(dimensions, query[key]!) : null}
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
      <LimitField {...props} tooltip="Rows and columns kept on each axis." />
    </InlineFieldRow>
  );
}

function EventsOptions(props: OptionsProps) {
  return (
    <InlineFieldRow>
      <FormatField {...props} />
      <LimitField {...props} tooltip="Maximum events." />
    </InlineFieldRow>
  );
}

/** The query's own allow-lists: label, placeholder and what they match. */
const ALLOW_LISTS: ReadonlyArray<{ key: keyof DetectionAllow; label: string; placeholder: string; tooltip: string }> = [
  {
    key: 'users',
    label: 'Allow users',
    placeholder: 'ci-bot, system:serviceaccount:ci:*',
    tooltip: 'User names, * globs.',
  },
  {
    key: 'groups',
    label: 'Allow groups',
    placeholder: 'platform-admins',
    tooltip: "Any of the user's groups, * globs.",
  },
  {
    key: 'namespaces',
    label: 'Allow namespaces',
    placeholder: 'debug-*',
    tooltip: "The finding's namespace, * globs; cluster-scoped findings are kept.",
  },
  {
    key: 'images',
    label: 'Allow images',
    placeholder: 'registry.example.com/debug/*',
    tooltip: 'Images of privileged or host-access workloads, * globs.',
  },
  {
    key: 'sourceNetworks',
    label: 'Allow networks',
    placeholder: '10.0.0.0/8',
    tooltip: 'CIDRs or IP addresses of the request source.',
  },
];

function AllowListsRow({ query, update, onRunQuery }: OptionsProps) {
  const allow = query.allow ?? {};
  const set = (key: keyof DetectionAllow, list: string[] | undefined) => {
    const next: DetectionAllow = { ...allow, [key]: list };
    if (!list) {
      delete next[key];
    }
    update({ allow: Object.keys(next).length > 0 ? next : undefined });
  };
  return (
    <InlineFieldRow>
      {ALLOW_LISTS.map(({ key, label, placeholder, tooltip }, i) => (
        <InlineField
          key={key}
          label={label}
          labelWidth={i === 0 ? LABEL_WIDTH : undefined}
          tooltip={`${tooltip} Findings matching any list are dropped, in addition to the datasource's allow-lists. Comma-separated; template variables allowed.`}
        >
          <StringListInput
            id={`audit-allow-${key}`}
            width={i === 0 ? 28 : 20}
            placeholder={placeholder}
            value={allow[key]}
            onChange={(list) => set(key, list)}
            onBlur={onRunQuery}
          />
        </InlineField>
      ))}
    </InlineFieldRow>
  );
}

function BurstFields({ query, update, onRunQuery }: OptionsProps) {
  return (
    <>
      <InlineField
        label="Burst"
        labelWidth={LABEL_WIDTH}
        tooltip="401/403 bursts (denied-burst) and access-review bursts (permission-enumeration): how many within the window make a finding. Empty: the datasource's setting (default 10)."
      >
        <Input
          id="audit-burst-threshold"
          type="number"
          min={1}
          width={10}
          placeholder="10"
          value={query.burstThreshold ?? ''}
          onChange={(e) => {
            const n = parseInt(e.currentTarget.value, 10);
            // 0 or nothing: the datasource's setting. Negative values are kept so that validation shows them.
            update({ burstThreshold: Number.isFinite(n) && n !== 0 ? n : undefined });
          }}
          onBlur={onRunQuery}
        />
      </InlineField>
      <InlineField
        label="within"
        tooltip="The burst window, e.g. 1m or 5m. Empty: the datasource's setting (default 5m)."
      >
        <Input
          id="audit-burst-window"
          width={10}
          placeholder="5m"
          value={query.burstWindow ?? ''}
          onChange={(e) => update({ burstWindow: e.currentTarget.value.trim() || undefined })}
          onBlur={onRunQuery}
        />
      </InlineField>
    </>
  );
}

function DetectionsOptions(props: OptionsProps) {
  const { query, update, schema } = props;
  const ruleOptions = useMemo(
    () => schema.rules.map((r) => ({ value: r.id, description: r.severity })),
    [schema.rules]
  );
  const severityOptions = useMemo(() => schema.severities.map((value) => ({ value })), [schema.severities]);
  return (
    <>
      <InlineFieldRow>
        <FormatField {...props} />
        <InlineField label="Rules" labelWidth={LABEL_WIDTH} tooltip="Rule ids, * globs; all rules when empty.">
          <ValuesPicker
            id="audit-rules"
            placeholder="all rules"
            value={query.rules}
            staticOptions={ruleOptions}
            onChange={(rules) => update({ rules }, true)}
          />
        </InlineField>
        <InlineField label="Severities" labelWidth={LABEL_WIDTH} tooltip="Only findings of these severities.">
          <ValuesPicker
            id="audit-severities"
            placeholder="all severities"
            value={query.severities}
            staticOptions={severityOptions}
            onChange={(severities) => update({ severities: severities as Severity[] | undefined }, true)}
          />
        </InlineField>
        <LimitField {...props} tooltip="Maximum findings." />
        <BurstFields {...props} />
        {query.format === 'timeseries' && (
          <GroupByField
            {...props}
            label="Group by"
            dimensions={props.dimensions.filter((d) => FINDING_DIMENSIONS.includes(d.value))}
          />
        )}
      </InlineFieldRow>
      <AllowListsRow {...props} />
    </>
  );
}

function LatencyBreakdownOptions(props: OptionsProps) {
  return (
    <InlineFieldRow>
      <FormatField {...props} />
      <LongRunningField {...props} />
      <LimitField {...props} tooltip="Slowest requests listed." />
    </InlineFieldRow>
  );
}

function DeprecatedOptions(props: OptionsProps) {
  return (
    <InlineFieldRow>
      <GroupByField {...props} label="Group by" />
      <LimitField {...props} tooltip="Maximum rows." />
    </InlineFieldRow>
  );
}

function PipelineOptions(props: OptionsProps) {
  return (
    <InlineFieldRow>
      <FormatField {...props} />
      <LimitField {...props} tooltip="Origins kept." />
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

function QueryEditorBody({ query, onChange, onRunQuery, datasource, range }: Props) {
  const known = effectiveQueryType(query);
  const queryType: QueryType = known ?? 'timeseries';
  const schema = useSchema(datasource);
  const type = typeSchema(schema, queryType);
  const Options = OPTIONS_EDITORS[queryType];
  const dimensions = dimensionOptions(useDimensions(datasource));
  const loadValues = useValuesLoader(datasource, range);
  const errors = useMemo(() => validate(query, schema), [query, schema]);
  const summary = useMemo(() => summarize(query, schema), [query, schema]);

  // Runs the query only when it is valid: the messages below say what to fix.
  const runIfValid = () => {
    if (validate(query, schema).length === 0) {
      onRunQuery();
    }
  };

  const update = (patch: Partial<AuditQuery>, run = false) => {
    const next = { ...query, ...patch };
    onChange(next);
    if (run && validate(next, schema).length === 0) {
      onRunQuery();
    }
  };
  // The format last chosen for each query type in this editor, restored when switching back.
  const formats = useRef<Partial<Record<QueryType, QueryFormat>>>({});
  const switchType = (next: QueryType) => {
    const { format } = query;
    const fits = (t: QueryType, f: QueryFormat | undefined) => !!f && formatsOf(schema, t).includes(f);
    if (fits(queryType, format)) {
      formats.current[queryType] = format;
    }
    const patch: Partial<AuditQuery> = { queryType: next };
    // A format the new type does not take would fail in the backend: use the one chosen for
    // that type before, else its default. Types without formats ignore it and keep it.
    if (format && formatsOf(schema, next).length > 0 && !fits(next, format)) {
      patch.format = formats.current[next];
    }
    update(patch, true);
  };
  const updateFilter = (patch: Partial<AuditFilter>, run = false) =>
    update({ filter: { ...query.filter, ...patch } }, run);

  return (
    <Stack direction="column" gap={1}>
      <InlineFieldRow>
        <InlineField label="Query type" labelWidth={LABEL_WIDTH} shrink>
          <RadioButtonGroup<QueryType>
            aria-label="Query type"
            className={wrapping}
            options={schema.queryTypes.map((t) => ({ value: t.name, label: t.label, description: t.description }))}
            value={queryType}
            // Only the type changes (and a format it cannot take): every other field stays as the
            // user left it.
            onChange={switchType}
          />
        </InlineField>
      </InlineFieldRow>
      {type.description && (
        <div data-testid="query-type-description">
          <Text variant="bodySmall" color="secondary">
            {type.description}
          </Text>
        </div>
      )}

      <FilterEditor
        filter={query.filter}
        queryType={queryType}
        onChange={updateFilter}
        onRunQuery={runIfValid}
        loadValues={loadValues}
      />

      <Options
        query={query}
        update={update}
        onRunQuery={runIfValid}
        dimensions={dimensions}
        type={type}
        schema={schema}
      />

      <div data-testid="query-summary">
        <Text variant="bodySmall" italic>
          {summary}
        </Text>
      </div>
      {errors.length > 0 && (
        <Alert severity="error" title="Fix the query to run it" data-testid="query-errors" bottomSpacing={0}>
          <ul>
            {errors.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        </Alert>
      )}
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
